"""Prediction files (`{id: answer text}`) and no-answer probability files (`{id: P(no answer)}`):
their shape checked against the data file, with errors that name the id and the fix."""

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


def _preview(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(qid) for qid in ids[:_PREVIEW])
    return shown + (f" and {len(ids) - _PREVIEW} more" if len(ids) > _PREVIEW else "")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_predictions(
    predictions: object,
    question_ids: Collection[str],
    source: str = "predictions",
    error: type[SpanQAError] = InputError,
) -> dict[str, str]:
    """`predictions` as `{id: text}` after checking its shape and that every id is a question."""
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
    unknown = [qid for qid in checked if qid not in question_ids]
    if unknown:
        raise error(
            f"{source} has {len(unknown)} id(s) that match no question of the data file: {_preview(unknown)}; "
            "check that the predictions were made for this file"
        )
    return checked


def check_na_probs(
    na_probs: object,
    question_ids: Collection[str],
    predicted_ids: Iterable[str],
    source: str = "na_probs",
    error: type[SpanQAError] = InputError,
) -> dict[str, float]:
    """`na_probs` as `{id: probability}`, in its own order (the threshold search depends on it)."""
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
    unknown = [qid for qid in checked if qid not in question_ids]
    if unknown:
        raise error(f"{source} has {len(unknown)} id(s) that match no question of the data file: {_preview(unknown)}")
    missing = [qid for qid in predicted_ids if qid not in checked]
    if missing:
        raise error(
            f"{source} has no probability for {len(missing)} question(s) that have a prediction: {_preview(missing)}"
        )
    return checked


def load_predictions_file(path: str | os.PathLike[str], dataset: Mapping[str, Any]) -> dict[str, str]:
    """Read and check an `{id: text}` predictions file against a (validated) SQuAD dataset."""
    raw = read_json_file(path, "predictions file")
    return check_predictions(raw, question_ids(dataset), f"predictions file {path}", DataFileError)


def load_na_probs_file(
    path: str | os.PathLike[str], dataset: Mapping[str, Any], predictions: Mapping[str, str]
) -> dict[str, float]:
    """Read and check an `{id: probability}` no-answer file (the official script's na_prob.json)."""
    raw = read_json_file(path, "no-answer probabilities file")
    return check_na_probs(
        raw, question_ids(dataset), predictions, f"no-answer probabilities file {path}", DataFileError
    )
