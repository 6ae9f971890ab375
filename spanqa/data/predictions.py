"""Prediction files (`{id: answer text}`) and no-answer probability files (`{id: P(no answer)}`):
their shape checked against the data file, with errors that name the id and the fix.

Ids that match no question of the data file are kept here (`unmatched_ids` finds them): the
official SQuAD scripts score a leaderboard file with a few stray ids by ignoring them, and so does
`spanqa.evaluation.metrics` (with a warning). `strict=True` makes them an error instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from spanqa.data.squad import question_ids, read_json_file
from spanqa.errors import DataFileError, InputError, SpanQAError

_PREVIEW = 5


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def preview_ids(ids: Sequence[str]) -> str:
    """The first few ids, quoted, and how many more there are."""
    shown = ", ".join(repr(qid) for qid in ids[:_PREVIEW])
    return shown + (f" and {len(ids) - _PREVIEW} more" if len(ids) > _PREVIEW else "")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unmatched_ids(ids: Iterable[str], question_ids: Collection[str]) -> list[str]:
    """The ids (in their order) that name no question of the data file."""
    return [qid for qid in ids if qid not in question_ids]


def unmatched_message(source: str, unmatched: Sequence[str]) -> str:
    return f"{source} has {len(unmatched)} id(s) that match no question of the data file: {preview_ids(unmatched)}"


def check_predictions(
    predictions: object,
    question_ids: Collection[str],
    source: str = "predictions",
    error: type[SpanQAError] = InputError,
    strict: bool = False,
) -> dict[str, str]:
    """`predictions` as `{id: text}` after checking its shape.

    Ids that match no question are kept (see `unmatched_ids`); with `strict` they are an error.
    """
    if not isinstance(predictions, Mapping):
        raise error(
            f"{source} should be a JSON object mapping question ids to answer texts "
            f'({{"id": "text", ...}}), got a {_json_type(predictions)}'
        )
    if not predictions:
        raise error(f"{source} holds no predictions")
    checked: dict[str, str] = {}
    for key, value in predictions.items():
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise error(f"{source}: the id {key!r} should be a string")
        if not isinstance(value, str):
            raise error(
                f'{source}: the entry for id {str(key)!r} should be a string (the answer text, "" for '
                f"no answer), got a {_json_type(value)}: {_short(value)}"
            )
        checked[str(key)] = value
    unknown = unmatched_ids(checked, question_ids)
    if strict and unknown:
        raise error(
            f"{unmatched_message(source, unknown)}; check that the predictions were made for this file "
            "(without --strict they are ignored, as the official SQuAD scripts ignore them)"
        )
    return checked


def check_na_probs(
    na_probs: object,
    question_ids: Collection[str],
    predicted_ids: Iterable[str],
    source: str = "na_probs",
    error: type[SpanQAError] = InputError,
    strict: bool = False,
) -> dict[str, float]:
    """`na_probs` as `{id: probability}`, in its own order (the threshold search depends on it).

    Every question with a prediction needs a probability; ids that match no question are kept
    (the official script skips them), or with `strict` are an error.
    """
    if not isinstance(na_probs, Mapping):
        raise error(
            f"{source} should be a JSON object mapping question ids to no-answer probabilities "
            f'({{"id": 0.25, ...}}), got a {_json_type(na_probs)}'
        )
    checked: dict[str, float] = {}
    for key, value in na_probs.items():
        qid = str(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise error(
                f"{source}: the value for id {qid!r} should be a number, got a {_json_type(value)}: {_short(value)}"
            )
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise error(f"{source}: the value for id {qid!r} is {value!r}; probabilities lie between 0 and 1")
        checked[qid] = value
    unknown = unmatched_ids(checked, question_ids)
    if strict and unknown:
        raise error(unmatched_message(source, unknown))
    missing = [qid for qid in predicted_ids if qid in question_ids and qid not in checked]
    if missing:
        raise error(
            f"{source} has no probability for {len(missing)} question(s) that have a prediction: {preview_ids(missing)}"
        )
    return checked


def load_predictions_file(
    path: str | os.PathLike[str], dataset: Mapping[str, Any], strict: bool = False
) -> dict[str, str]:
    """Read and check an `{id: text}` predictions file against a (validated) SQuAD dataset."""
    raw = read_json_file(path, "predictions file")
    return check_predictions(raw, question_ids(dataset), f"predictions file {path}", DataFileError, strict)


def load_na_probs_file(
    path: str | os.PathLike[str], dataset: Mapping[str, Any], predictions: Mapping[str, str], strict: bool = False
) -> dict[str, float]:
    """Read and check an `{id: probability}` no-answer file (the official script's na_prob.json)."""
    raw = read_json_file(path, "no-answer probabilities file")
    return check_na_probs(
        raw, question_ids(dataset), predictions, f"no-answer probabilities file {path}", DataFileError, strict
    )
