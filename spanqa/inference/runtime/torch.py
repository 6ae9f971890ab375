"""The PyTorch runtime: fp32, or bf16 autocast (fast on CPUs with AVX-512 bf16)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from spanqa.errors import ConfigError


class TorchRuntime:
    def __init__(self, model: torch.nn.Module, precision: str = "fp32", device: str = "cpu") -> None:
        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"the torch backend runs fp32 or bf16, not {precision!r} (int8 needs --backend onnx)")
        self.model = model.to(device).eval()
        self.precision = precision
        self.batch_independent = True  # fp32 and bf16 rows never mix: padding and neighbours change nothing
        self.device = torch.device(device)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        inputs = {name: torch.from_numpy(array).to(self.device) for name, array in batch.items()}
        with torch.inference_mode(), self._autocast():
            start_logits, end_logits = self.model(**inputs)
        return start_logits.float().cpu().numpy(), end_logits.float().cpu().numpy()
