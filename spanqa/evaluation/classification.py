"""Classification metrics: accuracy, macro/micro F1, per-class precision/recall/F1, confusion matrix.

Pure Python and numpy over label names; the order of `labels` (the model's id2label) is the order
of the per-class table and of the confusion matrix's rows (gold) and columns (predicted).
Multi-label data is scored per (item, label) decision: micro F1 over all decisions, exact-match
accuracy (an item is right when its predicted label set equals its gold set).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spanqa.errors import DataFileError


def check_known_labels(gold: Sequence[Sequence[str]], labels: Sequence[str], source: str) -> None:
    """A DataFileError naming the labels of the data that the model does not have."""
    known = set(labels)
    unknown = sorted({label for item in gold for label in item if label not in known})
    if unknown:
        raise DataFileError(
            f"{source} has label(s) the model does not know: {', '.join(map(repr, unknown[:5]))}"
            f"{' ...' if len(unknown) > 5 else ''}; the model's labels are {', '.join(map(repr, labels))} "
            "(check --label-column, or retrain with these labels)"
        )


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def classification_metrics(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], labels: Sequence[str]
) -> dict[str, Any]:
    """Metrics (in percent) of `predicted` label sets against `gold` ones (one label each for single-label data)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must have one entry per item")
    index = {label: i for i, label in enumerate(labels)}
    size = len(labels)
    gold_hot = np.zeros((len(gold), size), dtype=bool)
    predicted_hot = np.zeros((len(gold), size), dtype=bool)
    for row, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        gold_hot[row, [index[x] for x in g]] = True
        predicted_hot[row, [index[x] for x in p]] = True
    true_positive = (gold_hot & predicted_hot).sum(axis=0)
    predicted_count = predicted_hot.sum(axis=0)
    gold_count = gold_hot.sum(axis=0)
    per_class = {}
    for i, label in enumerate(labels):
        precision = float(true_positive[i] / predicted_count[i]) if predicted_count[i] else 0.0
        recall = float(true_positive[i] / gold_count[i]) if gold_count[i] else 0.0
        per_class[label] = {
            "precision": 100 * precision,
            "recall": 100 * recall,
            "f1": 100 * _f1(precision, recall),
            "support": int(gold_count[i]),
        }
    micro_precision = true_positive.sum() / predicted_count.sum() if predicted_count.sum() else 0.0
    micro_recall = true_positive.sum() / gold_count.sum() if gold_count.sum() else 0.0
    present = [
        label for label in labels if per_class[label]["support"] or index[label] in np.flatnonzero(predicted_count)
    ]
    single_label = all(len(g) == 1 for g in gold) and all(len(p) == 1 for p in predicted)
    confusion = np.zeros((size, size), dtype=np.int64)
    if single_label:
        for g, p in zip(gold, predicted, strict=True):
            confusion[index[g[0]], index[p[0]]] += 1
    exact = float(np.mean((gold_hot == predicted_hot).all(axis=1))) if len(gold) else 0.0
    return {
        "total": len(gold),
        "accuracy": 100 * exact,
        "macro_f1": float(np.mean([per_class[label]["f1"] for label in present])) if present else 0.0,
        "micro_f1": 100 * _f1(float(micro_precision), float(micro_recall)),
        "labels": list(labels),
        "per_class": per_class,
        # rows: gold label, columns: predicted label, in the order of "labels" (single-label data only)
        "confusion_matrix": confusion.tolist() if single_label else None,
    }
