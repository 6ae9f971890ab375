"""Model FLOPs of the windows a run answered."""

from __future__ import annotations

from typing import Any


def window_gflop(config: dict[str, Any], head: str, lengths: list[int]) -> float:
    """Multiply-add FLOPs of the encoder and head over windows of these lengths (2 per multiply-add)."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    intermediate = config.get("intermediate_size", 4 * hidden)
    per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * intermediate)  # Q, K, V, O, FFN in and out
    per_token += 2 * hidden * 2 if head == "linear" else 2 * (2 * hidden * hidden + 2 * hidden)
    total = 0.0
    for length in lengths:
        attention = 4 * layers * length * length * hidden  # QK^T and (softmax)V
        pointer = 2 * length * length * hidden if head == "pointer" else 0
        total += per_token * length + attention + pointer
    return total / 1e9
