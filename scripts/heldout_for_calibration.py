"""Write training questions a model never saw, as a SQuAD file for `spanqa calibrate` and `--exclude`.

    python scripts/heldout_for_calibration.py spanqa/models/default \
        --unanswerable ../shared/data/squad/train-v2.0-unanswerable.reconstructed.json \
        --out ../spanqa-train/heldout-v2.0.json --limit 3000 --unanswerable-limit 3000

Our default model trained on part of each epoch's batches, so some training questions were never
in any batch. This script replays every training run that made the model (read from its
spanqa.json, following `--base` back through earlier stages: spanqa.training.history; a run that
held `--out` out, and those after it, are left out since they saw none of it) and keeps
a seeded sample of the answerable questions none of whose windows was used. With
`--unanswerable FILE` it adds a sample of that file's unanswerable questions that no run used
either. They are held out by construction, and they are not dev data, so the dev scores stay
untouched by anything fitted on them. Train later stages with `--exclude` on the written file so
that they stay held out.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from spanqa.data import load_squad
from spanqa.data.squad import examples_to_squad
from spanqa.fileio import write_json_atomic
from spanqa.model.folder import training_runs
from spanqa.model.torch_io import load_model
from spanqa.training.data import QuestionKey, question_key
from spanqa.training.history import questions_seen
from spanqa.types import Example

REPO = Path(__file__).resolve().parent.parent


def sample_unseen(
    examples: list[Example], seen: set[QuestionKey], limit: int, seed: int, unanswerable: bool
) -> list[Example]:
    """A seeded sample of `limit` questions of one kind (answerable or not) that no run used."""
    candidates = {
        question_key(e): e
        for e in examples
        if (e.is_impossible or not e.answers) == unanswerable and question_key(e) not in seen
    }
    kind = "unanswerable" if unanswerable else "answerable"
    print(f"{kind} training questions never in a step: {len(candidates):,} (their paragraphs may have been)")
    chosen = sorted(candidates)
    random.Random(seed).shuffle(chosen)
    return [candidates[key] for key in chosen[:limit]]


def runs_before_holding_out(runs: list[dict], held_out_file: Path) -> list[dict]:
    """The runs before the first one trained with `--exclude held_out_file`.

    That run and every later one never saw the file's questions, by construction; replaying them
    would only change which questions count as unseen, so the file rebuilt for a later model (the
    one those runs made) is the same file they held out.
    """
    target = held_out_file.resolve()
    for index, run in enumerate(runs):
        # A shipped record's paths are relative to the repository (scripts/ship_default_model.py).
        excluded = [(REPO / path).resolve() for path in run.get("exclude_files") or []]
        if target in excluded:
            return runs[:index]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="model folder written by spanqa train (or the shipped model)")
    parser.add_argument("--out", type=Path, required=True, help="SQuAD JSON to write")
    parser.add_argument("--limit", type=int, default=3000, help="answerable questions to keep (a seeded sample)")
    parser.add_argument("--unanswerable", type=Path, help="SQuAD v2.0 file to sample unanswerable questions from")
    parser.add_argument("--unanswerable-limit", type=int, default=3000, help="unanswerable questions to keep")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    runs = runs_before_holding_out(training_runs(args.model), args.out)
    if not runs:
        raise SystemExit(f"{args.model} has no training record in its spanqa.json from before {args.out}")
    seen = questions_seen(runs, load_model(args.model).tokenizer)
    answerable = [e for path in runs[-1]["train_files"] for e in load_squad(path)]
    held_out = sample_unseen(answerable, seen, args.limit, args.seed, unanswerable=False)
    if args.unanswerable is not None:
        held_out += sample_unseen(load_squad(args.unanswerable), seen, args.unanswerable_limit, args.seed, True)
    held_out.sort(key=lambda e: (e.title, e.context, e.id))
    version = "2.0" if any(e.is_impossible for e in held_out) else "1.1"
    write_json_atomic(args.out, examples_to_squad(held_out, version=version))
    print(f"{len(held_out):,} questions written to {args.out}")


if __name__ == "__main__":
    main()
