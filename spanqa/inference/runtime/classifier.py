"""Sequence-classification back-ends: the torch and ONNX Runtime runtimes, returning logits [B, C].

They take the same padded batches as the span runtimes (input_ids, attention_mask, token_type_ids)
and differ only in what comes out; spanqa.classify turns the logits into labels.
"""

from __future__ import annotations

import contextlib

import numpy as np

from spanqa.errors import ConfigError
from spanqa.inference.runtime.onnx import OnnxRuntime


class TorchClassifierRuntime:
    def __init__(self, model, precision: str = "fp32", device: str = "cpu") -> None:
        import torch

        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"the torch backend runs fp32 or bf16, not {precision!r} (int8 needs --backend onnx)")
        self.model = model.to(device).eval()
        self.precision = precision
        self.batch_independent = True
        self.device = torch.device(device)

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        inputs = {name: torch.from_numpy(array).to(self.device) for name, array in batch.items()}
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
            if self.precision == "bf16"
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            logits = self.model(**inputs)  # [B, C]
        return logits.float().cpu().numpy()


class OnnxClassifierRuntime(OnnxRuntime):
    """An exported classifier (one output, `logits` [B, C]) on ONNX Runtime."""

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:  # type: ignore[override]
        return self.outputs(batch, self.output_names[:1])[0]
