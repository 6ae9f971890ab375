"""The ONNX Runtime back-end: fp32, or dynamic int8, on the CPU.

An ONNX model folder is what `spanqa export MODEL --onnx OUT` writes (see spanqa.model.folder).
onnxruntime is imported when a runtime is built, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spanqa.errors import MissingExtraError, ModelFolderError
from spanqa.inference.runtime.base import exported_model_feed


class OnnxRuntime:
    """Runs an ONNX span model with ONNX Runtime on the CPU."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        precision: str = "fp32",
        threads: int | None = None,
        spin_wait: bool = True,
    ) -> None:
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        if not spin_wait:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are noise for users
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for a bad file
            raise ModelFolderError(f"cannot load the ONNX model {model_path}: {error}") from error
        self.model_path = Path(model_path)
        self.precision = precision
        # Dynamic int8 quantises each MatMul's input with one scale for the whole batch, taken
        # from its largest value: the windows of one batch change each other's logits (8% of
        # best answers changed between a 32-question batch and one question alone). fp32 does not.
        self.batch_independent = precision != "int8"
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.output_names = [node.name for node in self.session.get_outputs()]

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        start_logits, end_logits = self.outputs(batch, self.output_names[:2])
        return start_logits, end_logits

    def outputs(self, batch: dict[str, np.ndarray], names: list[str] | None = None) -> list[np.ndarray]:
        """The model's outputs `names` (None: all of them) as float32 arrays, for any ONNX model spanqa exports."""
        feed = exported_model_feed(batch, self.input_names, "ONNX")
        arrays = self.session.run(names or self.output_names, feed)
        return [array.astype(np.float32, copy=False) for array in arrays]


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingExtraError(
            "the onnx backend needs onnxruntime: pip install onnxruntime (or use --backend torch)"
        ) from error
    return onnxruntime
