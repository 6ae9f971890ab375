"""Write training questions a model never saw, as a SQuAD file for `spanqa calibrate`.

    python scripts/heldout_for_calibration.py ../spanqa-train/default-minilm-stage2 \
        --out ../spanqa-train/heldout-v1.1.json --limit 3000

Our default model trains on part of an epoch, so a large share of the training questions were
never in any batch. This script rebuilds every training run that made the model (read from its
spanqa.json, following `--base` back through earlier stages) exactly as `spanqa train` did: the
same examples, windows, synthetic negatives and batch order (same seed, one process). It marks
every window that went into a step, and keeps the answerable questions none of whose windows
was used. They are held out by construction, and they are not dev data, so the dev scores stay
untouched by anything fitted on them.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path
from typing import Any

import numpy as np

from spanqa.data import load_squad
from spanqa.data.squad import examples_to_squad
from spanqa.fileio import write_json_atomic
from spanqa.inference.features import encode_windows
from spanqa.model.folder import training_runs
from spanqa.model.torch_io import load_model
from spanqa.settings import ReaderSettings
from spanqa.training.data import select_training_examples
from spanqa.training.loop import epoch_batches
from spanqa.types import Example


def question_key(example: Example) -> tuple[str, str]:
    """What training deduplicates on: a question asked twice of one paragraph is one question."""
    return example.question.strip(), example.context


def used_questions(run: dict[str, Any], tokenizer) -> set[tuple[str, str]]:
    """The questions with at least one window in a step of `run` (one process, as ours ran)."""
    examples = [e for path in run["train_files"] for e in load_squad(path)]
    if run.get("max_train_examples") is not None:
        examples = examples[: run["max_train_examples"]]
    kept, spans, _ = select_training_examples(examples, run["negatives"], run["seed"])
    settings = ReaderSettings(
        max_seq_len=run["max_seq_len"], doc_stride=run["doc_stride"], max_question_len=run["max_question_len"]
    )
    windows = encode_windows(tokenizer, [e.question for e in kept], [e.context for e in kept], settings, spans)
    lengths = np.array([w.length for w in windows])
    batch, accum = run["batch_size"], run["grad_accum"]
    micro_per_epoch = len(epoch_batches(lengths, batch, run["seed"], 0)) // accum * accum
    total_steps = run["max_steps"] or math.ceil(run["epochs"] * (micro_per_epoch // accum))
    micro_left = total_steps * accum
    used: set[tuple[str, str]] = set()
    epoch = 0
    while micro_left > 0:
        batches = epoch_batches(lengths, batch, run["seed"], epoch)[:micro_per_epoch][:micro_left]
        for indices in batches:
            used.update(question_key(kept[windows[i].example_index]) for i in indices)
        micro_left -= len(batches)
        epoch += 1
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="model folder written by spanqa train")
    parser.add_argument("--out", type=Path, required=True, help="SQuAD v1.1 JSON to write")
    parser.add_argument("--limit", type=int, default=3000, help="questions to keep (a seeded random sample)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    runs = training_runs(args.model)
    if not runs:
        raise SystemExit(f"{args.model} has no training record in its spanqa.json")
    tokenizer = load_model(args.model).tokenizer
    used: set[tuple[str, str]] = set()
    for number, run in enumerate(runs, 1):
        run_used = used_questions(run, tokenizer)
        print(f"run {number}: {len(run_used):,} examples in its steps")
        used |= run_used
    candidates = {
        question_key(e): e
        for path in runs[-1]["train_files"]
        for e in load_squad(path)
        if e.answers and not e.is_impossible and question_key(e) not in used
    }
    print(f"answerable training questions never in a step: {len(candidates):,} (their paragraphs may have been)")
    chosen = sorted(candidates)
    random.Random(args.seed).shuffle(chosen)
    held_out = sorted((candidates[key] for key in chosen[: args.limit]), key=lambda e: (e.title, e.context, e.id))
    write_json_atomic(args.out, examples_to_squad(held_out))
    print(f"{len(held_out):,} questions written to {args.out}")


if __name__ == "__main__":
    main()
