"""One predict run through spanqa's public stages, each stage timed.

`timed_predict` does what `Reader.predict(examples, batch_size=...)` does, with the calls of
spanqa.inference.pipeline spelt out so that each can be timed: tokenise is `encode_queries`,
forward is the runtime's `run` (through `TimedRuntime`, which `run_windows` calls like any
runtime), decode is `decode_queries`; "other" is the rest of the run's wall time (padding and
batching, cutting logits to length, grouping them by question).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanqa.inference.pipeline import decode_queries, encode_queries, logits_per_query, pad_token_id, run_windows
from spanqa.inference.runtime.base import Runtime
from spanqa.types import Example, Prediction, Query


class TimedRuntime:
    """A Runtime that runs another one and adds up the seconds its `run` calls take."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.precision = runtime.precision
        self.batch_independent = runtime.batch_independent
        self.seconds = 0.0

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        began = time.perf_counter()
        try:
            return self.runtime.run(batch)
        finally:
            self.seconds += time.perf_counter() - began


@dataclass
class TimedRun:
    seconds: float  # wall time of the whole run
    predictions: list[Prediction]
    stages: dict[str, float]  # seconds: tokenize, forward, decode, other
    window_lengths: list[int]  # tokens of every window the run answered


def queries_of(examples: Sequence[Example]) -> list[Query]:
    """One single-context Query per Example, as `Reader.predict` asks them."""
    return [Query.from_example(e) for e in examples]


def timed_predict(reader, examples: Sequence[Example], batch_size: int) -> TimedRun:
    """`reader.predict(examples, batch_size=batch_size)` (the same predictions), stage by stage."""
    runtime = TimedRuntime(reader.runtime)
    settings = reader.settings
    began = time.perf_counter()
    queries = queries_of(examples)
    tokenize_began = time.perf_counter()
    encoded = encode_queries(reader.tokenizer, queries, settings)
    tokenize = time.perf_counter() - tokenize_began
    logits = run_windows(runtime, encoded.windows, batch_size, pad_token_id(reader.tokenizer))
    per_query = logits_per_query(encoded, logits)
    decode_began = time.perf_counter()
    predictions = decode_queries(queries, per_query, settings)
    ended = time.perf_counter()
    stages = {"tokenize": tokenize, "forward": runtime.seconds, "decode": ended - decode_began}
    stages["other"] = max(0.0, ended - began - sum(stages.values()))
    return TimedRun(ended - began, predictions, stages, [w.length for w in encoded.windows])


def answers_to_all(reader, run: TimedRun, examples: Sequence[Example], batch_size: int) -> dict[str, str]:
    """{id: best answer} for every one of `examples`: the timed run's answers for the questions it timed
    (the first of `examples`), the rest answered now, untimed, for the score only."""
    answers = {p.example_id: p.best_text for p in run.predictions}
    rest = examples[len(run.predictions) :]
    answers.update({p.example_id: p.best_text for p in reader.predict(rest, batch_size=batch_size)})
    return answers
