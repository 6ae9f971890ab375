"""The runtime protocol: what every back-end (torch, ONNX Runtime) provides to the reader.

A runtime takes the padded arrays of `features.pad_windows` and returns numpy start and
end logits; the reader never touches torch or onnxruntime directly.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

Backend = Literal["torch", "onnx"]
Precision = Literal["fp32", "bf16", "int8"]


class Runtime(Protocol):
    precision: str
    # False where a window's logits depend on the other windows in its batch (dynamic int8: one
    # activation scale per batch); the reader then runs windows one at a time, so that an answer
    # never depends on which other questions were asked with it.
    batch_independent: bool

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """[B, L] arrays in -> start logits [B, L] and end logits [B, L] or [B, L, L]."""
        ...


class ClassifierRuntime(Protocol):
    """What a sequence-classification back-end provides to spanqa.classify (same batches, one output)."""

    precision: str
    batch_independent: bool

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """[B, L] arrays in -> logits [B, C] (C: the folder's labels)."""
        ...
