"""The questions a run answers, and scoring its answers against them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spanqa.data import load_squad_json
from spanqa.data.squad import examples_from_squad, restrict_to_ids
from spanqa.evaluation.metrics import squad_metrics
from spanqa.types import Example


def select_questions(data_path: Path, limit: int | None) -> tuple[list[Example], dict[str, Any]]:
    """(the first `limit` questions as Examples, the dataset restricted to them for scoring)."""
    dataset = load_squad_json(data_path)
    examples = examples_from_squad(dataset)
    if limit is not None:
        examples = examples[:limit]
    return examples, restrict_to_ids(dataset, {e.id for e in examples})


def score(dataset: dict[str, Any], predictions: dict[str, str]) -> tuple[float, float]:
    """(EM, F1) of {id: answer text} against `dataset`."""
    metrics = squad_metrics(dataset, predictions)
    return float(metrics["exact"]), float(metrics["f1"])
