#!/usr/bin/env bash
# Fits the shipped default model's score temperature and no-answer threshold on held-out training
# questions (never on dev data) and writes them into spanqa/models/default/spanqa.json; the fit goes
# to reports/default-model/calibration.json.
#
# The held-out file is the one stage 5 of scripts/train_default_model.sh excluded from training and
# scored during it: 3,000 answerable questions no earlier stage used and 3,000 unanswerable ones.
# If it is missing it is rebuilt from the model's training record (the same questions, as long as
# the record is the same).
#   scripts/calibrate_default_model.sh [TRAINED_MODEL] [spanqa calibrate options, e.g. --min-has-answer-f1 74]
set -euo pipefail
cd "$(dirname "$0")/.."
trained="${1:-spanqa/models/default}"
shift || true
data="${SPANQA_DATA:-../shared/data/squad}"
heldout="${SPANQA_HELDOUT:-../spanqa-train/heldout-v2.0.json}"
if [[ ! -f "$heldout" ]]; then
  python scripts/heldout_for_calibration.py "$trained" --out "$heldout" --limit 3000 \
    --unanswerable "$data/train-v2.0-unanswerable.reconstructed.json" --unanswerable-limit 3000
fi
spanqa calibrate "$heldout" --model default --write --no-progress --out reports/default-model/calibration.json "$@"
