"""Which training questions a model has seen: its training runs replayed, batch order included.

A run's batch order is a pure function of its settings (training/loop.epoch_batches), so the
windows that went into its steps can be rebuilt without its checkpoints. Questions none of
whose windows was in a step are held out by construction: scores on them are fair, and they
are training data, so fitting a threshold on them leaves dev untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from spanqa.training.config import TrainConfig
from spanqa.training.data import (
    QuestionKey,
    question_key,
    select_training_examples,
    training_questions,
    training_windows,
)
from spanqa.training.loop import epoch_batches, steps_in_run


def questions_in_steps(run: dict[str, Any], tokenizer) -> set[QuestionKey]:
    """The questions with at least one window in a step of `run` (a TrainConfig dict; one process)."""
    config = TrainConfig.from_dict(run)
    examples, excluded = training_questions(config)
    kept, spans, _ = select_training_examples(
        examples, config.negatives, config.seed, exclude=excluded, hard_negatives=config.hard_negatives
    )
    windows = training_windows(tokenizer, kept, spans, config.reader_settings())
    lengths = np.array([w.length for w in windows])
    batch, accum = config.batch_size, config.grad_accum
    micro_per_epoch = len(epoch_batches(lengths, batch, config.seed, 0)) // accum * accum
    micro_left = steps_in_run(config, lengths, batch) * accum
    used: set[QuestionKey] = set()
    epoch = 0
    while micro_left > 0:
        batches = epoch_batches(lengths, batch, config.seed, epoch)[:micro_per_epoch][:micro_left]
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
