#!/usr/bin/env bash
# Scores the shipped default model on the full SQuAD dev sets with `spanqa evaluate` (official
# metrics) and writes the reports quoted in README and MODEL_CARD.md to reports/default-model/.
#   v1.1 dev, no-answer disabled: int8 ONNX (what `auto` runs) and torch fp32, side by side
#   v2.0 dev: at the shipped null_threshold, and the best threshold the official search finds
set -euo pipefail
cd "$(dirname "$0")/.."
data="${SPANQA_DATA:-../shared/data/squad}"
out=reports/default-model
mkdir -p "$out"
run() {  # keep the summary, drop the progress bar's redraws
  local name=$1; shift
  { /usr/bin/time -f "$name: %e s wall" spanqa evaluate "$@"; } 2>&1 | tr '\r' '\n' | grep -v '^predicting:' > "$out/$name.txt"
}
# Two single-threaded lanes side by side on a 2-core machine: the int8 runs one after the other
# (about as long together as the fp32 run alone), the fp32 run beside them.
{
  run dev-v1.1-int8 "$data/dev-v1.1.json" --model default --threads 1 --out "$out/dev-v1.1-int8.json" \
    --html "$out/dev-v1.1-int8.html" --predictions-out "$out/dev-v1.1-int8.predictions.json"
  run dev-v2.0-int8 "$data/dev-v2.0.json" --model default --threads 1 --out "$out/dev-v2.0-int8.json" \
    --html "$out/dev-v2.0-int8.html"
} &
int8_lane=$!
run dev-v1.1-fp32 "$data/dev-v1.1.json" --model default --backend torch --precision fp32 --threads 1 \
  --out "$out/dev-v1.1-fp32.json" --predictions-out "$out/dev-v1.1-fp32.predictions.json" &
fp32_lane=$!
# a bare `wait` would return 0 even when a lane failed, and old reports would be recorded
wait "$int8_lane"
wait "$fp32_lane"
tail -n 12 "$out"/*.txt
python scripts/record_default_model_scores.py  # GET /v1/model of `spanqa serve` shows them
