#!/usr/bin/env bash
# Picks the model to ship from a finished stage-5 (or later) run by held-out F1, never by dev:
#   the run's final model, its best evaluation (OUT/best) and the average of its last 3 spaced
#   checkpoints (--keep-every 1000); each exported to int8 ONNX (what `auto` runs) and calibrated
#   on the held-out training questions (temperature + no-answer threshold), F1 at that threshold.
# Prints one line per candidate and the winner; ship it with scripts/ship_default_model.py.
#   scripts/choose_default_model.sh [RUN_OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:-../spanqa-train/default-v2}"
heldout="${SPANQA_HELDOUT:-../spanqa-train/heldout-v2.0.json}"
work="${SPANQA_CHOICE_DIR:-$run-choice}"
mkdir -p "$work"
if [[ ! -f "$run/model.safetensors" ]]; then
  echo "$run holds no finished model yet: let scripts/train_default_model.sh 5 finish" >&2
  exit 2
fi
candidates=("final=$run")
# OUT/best is often the final step itself: the same weights need not be scored twice
if [[ -f "$run/best/model.safetensors" ]] && ! cmp -s "$run/best/model.safetensors" "$run/model.safetensors"; then
  candidates+=("best=$run/best")
fi
if [[ ! -f "$work/avg3/model.safetensors" ]] &&
  python scripts/average_checkpoints.py "$run" --last 3 --every "${SPANQA_AVERAGE_EVERY:-1000}" --out "$work/avg3" >&2; then :; fi
[[ -f "$work/avg3/model.safetensors" ]] && candidates+=("avg3=$work/avg3")
best_name="" best_f1=-1
for candidate in "${candidates[@]}"; do
  name="${candidate%%=*}" folder="${candidate#*=}"
  [[ -f "$work/$name-onnx/model.int8.onnx" ]] || spanqa export "$folder" --onnx "$work/$name-onnx" --int8 --force >/dev/null
  spanqa calibrate "$heldout" --model "$work/$name-onnx" --write --no-progress --out "$work/$name.calibration.json" >/dev/null
  f1=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['null_threshold']['f1'])" "$work/$name.calibration.json")
  echo "$name ($folder): held-out F1 $f1"
  if python -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$f1" "$best_f1"; then
    best_name="$name" best_f1="$f1"
  fi
done
echo "choose: $best_name (held-out F1 $best_f1)"
