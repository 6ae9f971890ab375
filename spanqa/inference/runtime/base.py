"""The runtime protocol: what every back-end (torch, ONNX Runtime) provides to the reader.

A runtime takes the padded arrays of `features.pad_windows` and returns numpy start and
end logits; the reader never touches torch or onnxruntime directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from spanqa.errors import InputError

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


def exported_model_feed(batch: dict[str, np.ndarray], input_names: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """The int64 inputs an exported model (ONNX, OpenVINO) takes, from `pad_windows`' [B, L] arrays.

    A model that takes segment ids gets zeros when the batch has none (tokenizers without them).
    """
    feed = {name: np.ascontiguousarray(batch[name], dtype=np.int64) for name in input_names if name in batch}
    missing = [name for name in input_names if name not in feed]
    if missing == ["token_type_ids"]:
        feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
    elif missing:
        raise InputError(f"the {what} model needs the input(s) {', '.join(missing)}, which the batch lacks")
    return feed
