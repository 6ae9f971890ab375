"""The reader's three stages as plain functions: the one path every caller runs.

    encode_queries (stage 1: windows) -> run_windows (stage 2: the model) -> decode_queries (stage 3: answers)

`Reader`, the server's batcher, calibration, explain and the benchmarks call these, so each
stage can be run, timed and tested alone, with any runtime that follows the `Runtime` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanqa.errors import InputError
from spanqa.inference.decode import DecodeOptions, WindowLogits, decode_example
from spanqa.inference.features import Window, encode_windows, length_sorted_batches, pad_windows
from spanqa.inference.inputs import check_text
from spanqa.inference.runtime.base import Runtime
from spanqa.settings import ReaderSettings
from spanqa.types import Prediction, Query

Logits = tuple[np.ndarray, np.ndarray]  # start [L], end [L] (linear head) or [L, L] (pointer head)


@dataclass(frozen=True)
class EncodedQueries:
    """The windows of every (question, context) pair of some queries, and whose each window is."""

    queries: Sequence[Query]
    windows: list[Window]
    owners: list[tuple[int, int]]  # per window: (query index, context index)


def pad_token_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def decode_options(settings: ReaderSettings, answers_per_context: int | None = None) -> DecodeOptions:
    return DecodeOptions(
        top_k=settings.top_k,
        answers_per_context=answers_per_context,
        max_answer_len=settings.max_answer_len,
        handle_impossible_answer=settings.handle_impossible_answer,
        null_threshold=settings.null_threshold,
        align_to_words=settings.align_to_words,
        temperature=settings.temperature,
    )


def window_logits(window: Window, logits: Logits, context_index: int = 0) -> WindowLogits:
    """A window's logits with what decoding needs to know of the window."""
    start, end = logits
    return WindowLogits(
        start_logits=start,
        end_logits=end,
        context_mask=window.context_mask,
        offsets=window.offsets,
        word_offsets=window.word_offsets,
        cls_index=window.cls_index,
        context_index=context_index,
    )


# ---------------------------------------------------------------------------- stage 1
def encode_queries(tokenizer, queries: Sequence[Query], settings: ReaderSettings) -> EncodedQueries:
    """Check every question and context, then cut each (question, context) pair into windows."""
    questions, contexts, pair_owner = [], [], []
    for q, query in enumerate(queries):
        question = check_text(query.question, "question")
        for c, context in enumerate(query.contexts):
            questions.append(question)
            contexts.append(check_text(context, "context", settings.max_context_chars))
            pair_owner.append((q, c))
    windows = encode_windows(tokenizer, questions, contexts, settings) if questions else []
    return EncodedQueries(queries, windows, [pair_owner[w.example_index] for w in windows])


# ---------------------------------------------------------------------------- stage 2
def run_windows(
    runtime: Runtime, windows: Sequence[Window], batch_size: int, pad_id: int, progress: bool = False
) -> list[Logits]:
    """Logits of every window, in input order, trimmed to its length.

    Batches are length-sorted and padded to their longest window. A runtime whose logits depend on
    the batch (dynamic int8) runs one window at a time, so an answer never depends on which other
    questions were asked with it.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not runtime.batch_independent:
        batch_size = 1
    results: list[Logits | None] = [None] * len(windows)
    bar = _progress_bar(len(windows), progress)
    for indices in length_sorted_batches([w.length for w in windows], batch_size):
        start_logits, end_logits = runtime.run(pad_windows([windows[i] for i in indices], pad_id))
        for row, index in enumerate(indices):
            length = windows[index].length
            end = end_logits[row, :length] if end_logits.ndim == 2 else end_logits[row, :length, :length]
            results[index] = (start_logits[row, :length], end)
        if bar is not None:
            bar.update(len(indices))
    if bar is not None:
        bar.close()
    return results  # type: ignore[return-value]


def logits_per_query(encoded: EncodedQueries, logits: Sequence[Logits]) -> list[list[WindowLogits]]:
    """Group the windows' logits by query (the order of windows within a query is kept)."""
    per_query: list[list[WindowLogits]] = [[] for _ in encoded.queries]
    for window, window_output, (q, c) in zip(encoded.windows, logits, encoded.owners, strict=True):
        per_query[q].append(window_logits(window, window_output, c))
    return per_query


def model_logits(
    runtime: Runtime,
    tokenizer,
    queries: Sequence[Query],
    settings: ReaderSettings,
    batch_size: int = 32,
    progress: bool = False,
) -> list[list[WindowLogits]]:
    """Stages 1 and 2: the logits of every window of every query (the part of predicting that runs the model)."""
    encoded = encode_queries(tokenizer, queries, settings)
    logits = run_windows(runtime, encoded.windows, batch_size, pad_token_id(tokenizer), progress)
    return logits_per_query(encoded, logits)


# ---------------------------------------------------------------------------- stage 3
def decode_queries(
    queries: Sequence[Query],
    per_query: Sequence[Sequence[WindowLogits]],
    settings: ReaderSettings,
    answers_per_context: int | None = None,
) -> list[Prediction]:
    """Rank each query's answers over all its windows and contexts (see DecodeOptions.answers_per_context)."""
    options = decode_options(settings, answers_per_context)
    predictions = []
    for query, windows in zip(queries, per_query, strict=True):
        decoded = decode_example(windows, query.contexts, options)
        predictions.append(Prediction(query.id, tuple(decoded.answers), decoded.no_answer_probability))
    return predictions


def predict_queries(
    runtime: Runtime,
    tokenizer,
    queries: Sequence[Query],
    settings: ReaderSettings,
    batch_size: int = 32,
    progress: bool = False,
    answers_per_context: int | None = None,
) -> list[Prediction]:
    """All three stages: one Prediction per query, in order."""
    per_query = model_logits(runtime, tokenizer, queries, settings, batch_size, progress)
    return decode_queries(queries, per_query, settings, answers_per_context)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="window", desc="predicting", dynamic_ncols=True)
