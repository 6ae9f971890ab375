#!/usr/bin/env bash
# Fits the shipped default model's score temperature on 3,000 training questions the model never
# saw in a step (rebuilt from its training record), never on dev data, and writes it into
# spanqa/models/default/spanqa.json; the fit goes to reports/default-model/calibration.json.
set -euo pipefail
cd "$(dirname "$0")/.."
trained="${1:-../spanqa-train/default-minilm-stage2}"
heldout="${SPANQA_HELDOUT:-../spanqa-train/heldout-v1.1.json}"
python scripts/heldout_for_calibration.py "$trained" --out "$heldout" --limit 3000
spanqa calibrate "$heldout" --model default --write --no-progress --out reports/default-model/calibration.json
