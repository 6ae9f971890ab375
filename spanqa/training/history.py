"""Which training questions a model has seen: its training runs replayed, batch order included.

A run's batch order is a pure function of its settings (training/loop.epoch_batches), so the
windows that went into its steps can be rebuilt without its checkpoints. Questions none of
whose windows was in a step are held out by construction: scores on them are fair, and they
are training data, so fitting a threshold on them leaves dev untouched.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from spanqa.data import load_squad
from spanqa.settings import ReaderSettings
from spanqa.training.data import select_training_examples, training_windows
from spanqa.training.loop import epoch_batches
from spanqa.types import Example

QuestionKey = tuple[str, str]


def question_key(example: Example) -> QuestionKey:
    """What training deduplicates on: a question asked twice of one paragraph is one question."""
    return example.question.strip(), example.context


def questions_in_steps(run: dict[str, Any], tokenizer) -> set[QuestionKey]:
    """The questions with at least one window in a step of `run` (a TrainConfig dict; one process)."""
    examples = [e for path in run["train_files"] for e in load_squad(path)]
    if run.get("max_train_examples") is not None:
        examples = examples[: run["max_train_examples"]]
    excluded = [e for path in run.get("exclude_files", []) for e in load_squad(path)]
    kept, spans, _ = select_training_examples(
        examples, run["negatives"], run["seed"], exclude=excluded, hard_negatives=run.get("hard_negatives", 0.0)
    )
    settings = ReaderSettings(
        max_seq_len=run["max_seq_len"], doc_stride=run["doc_stride"], max_question_len=run["max_question_len"]
    )
    windows = training_windows(tokenizer, kept, spans, settings)
    lengths = np.array([w.length for w in windows])
    batch, accum = run["batch_size"], run["grad_accum"]
    micro_per_epoch = len(epoch_batches(lengths, batch, run["seed"], 0)) // accum * accum
    total_steps = run["max_steps"] or math.ceil(run["epochs"] * (micro_per_epoch // accum))
    micro_left = total_steps * accum
    used: set[QuestionKey] = set()
    epoch = 0
    while micro_left > 0:
        batches = epoch_batches(lengths, batch, run["seed"], epoch)[:micro_per_epoch][:micro_left]
        for indices in batches:
            used.update(question_key(kept[windows[i].example_index]) for i in indices)
        micro_left -= len(batches)
        epoch += 1
    return used


def questions_seen(runs: Iterable[dict[str, Any]], tokenizer, say=print) -> set[QuestionKey]:
    """Every question any of `runs` (spanqa.model.folder.training_runs) put in a step."""
    seen: set[QuestionKey] = set()
    for number, run in enumerate(runs, 1):
        in_steps = questions_in_steps(run, tokenizer)
        say(f"run {number}: {len(in_steps):,} questions in its steps")
        seen |= in_steps
    return seen
