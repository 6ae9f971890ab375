"""The classifier's three stages as plain functions, the one path `classify`, `--explain`, evaluation,
the server and the benchmark run:

    encode_items (inputs.py) -> run_text_windows (here) -> item_logits + ranked_labels (labels.py)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanqa.classify.inputs import TextWindow
from spanqa.errors import InputError
from spanqa.inference.features import length_sorted_batches, pad_windows
from spanqa.inference.runtime.base import ClassifierRuntime


@dataclass(frozen=True)
class RunBatch:
    """One padded batch exactly as the runtime got it, and what came out (kept for --explain)."""

    window_indices: tuple[int, ...]
    inputs: dict[str, np.ndarray]  # [B, L] each
    logits: np.ndarray  # [B, C]


def run_text_windows(
    runtime: ClassifierRuntime,
    windows: Sequence[TextWindow],
    batch_size: int,
    pad_id: int,
    record: list[RunBatch] | None = None,
) -> np.ndarray:
    """Logits [W, C] of every window, in input order; batches are length-sorted and padded to their longest.

    A runtime whose logits depend on the batch (dynamic int8) runs one window at a time, so a label
    never depends on which other texts were sent with it. With `record`, every batch is appended to it.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not runtime.batch_independent:
        batch_size = 1
    results: np.ndarray | None = None
    for indices in length_sorted_batches([w.length for w in windows], batch_size):
        inputs = pad_windows([windows[i] for i in indices], pad_id)
        logits = np.asarray(runtime.run(inputs), dtype=np.float32)  # [B, C]
        if results is None:
            results = np.zeros((len(windows), logits.shape[1]), dtype=np.float32)
        results[indices] = logits
        if record is not None:
            record.append(RunBatch(tuple(int(i) for i in indices), inputs, logits))
    assert results is not None, "run_text_windows needs at least one window"
    return results


def item_logits(windows: Sequence[TextWindow], window_logits: np.ndarray, items: int) -> np.ndarray:
    """[N, C] logits per item: its one window's, or the mean over its windows (long_text="average")."""
    owners = np.array([w.item_index for w in windows], dtype=np.int64)
    sums = np.zeros((items, window_logits.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, window_logits)
    counts = np.bincount(owners, minlength=items)[:, None]
    return (sums / counts).astype(np.float32)
