"""Stage 3 of classification: logits -> probabilities -> labels, best first (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

ProblemType = Literal["single_label_classification", "multi_label_classification"]


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float  # softmax probability (single-label) or sigmoid probability (multi-label)

    def to_dict(self) -> dict[str, float | str]:
        return {"label": self.label, "score": self.score}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of [N, C] logits, stable for huge values."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # = 1 / (1 + e^-x), without overflow


def probabilities(logits: np.ndarray, problem_type: ProblemType) -> np.ndarray:
    """[N, C] probabilities: one softmax per row, or one sigmoid per label for multi-label models."""
    logits = np.asarray(logits, dtype=np.float64)
    return sigmoid(logits) if problem_type == "multi_label_classification" else softmax(logits)


def ranked_labels(
    probs: np.ndarray,
    id2label: dict[int, str],
    problem_type: ProblemType,
    top_k: int | None = None,
    threshold: float = 0.5,
) -> list[LabelScore]:
    """One item's labels, best first (ties: lower label id first). Multi-label keeps those >= threshold."""
    order = np.argsort(-probs, kind="stable")
    chosen = [
        LabelScore(id2label[int(i)], float(probs[i]))
        for i in order
        if problem_type != "multi_label_classification" or probs[i] >= threshold
    ]
    return chosen if top_k is None else chosen[:top_k]
