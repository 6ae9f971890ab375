"""The OpenVINO back-end: an OpenVINO IR span model (NNCF int8, or fp32) on the CPU.

An OpenVINO model folder is what `spanqa export MODEL --openvino OUT` writes (see spanqa.model.folder).
openvino is imported when a runtime is built, so importing this module stays cheap.

Shapes: the windows run one at a time (see batch_independent), each padded up to a multiple of
SHAPE_STEP tokens and run by a model compiled for that static shape, compiled when first needed
(at most max_seq_len / SHAPE_STEP of them). Measured on the default model, 200 SQuAD dev windows,
1 thread, interleaved: 1.33x ONNX Runtime's dynamic int8 with static shapes against 1.14x with one
dynamic-shape model, for the same answers (padding is masked). Batches of several windows, which
only direct callers of `run` send, use the dynamic-shape model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spanqa.errors import MissingExtraError, ModelFolderError
from spanqa.inference.runtime.base import exported_model_feed

INSTALL_HINT = "pip install 'spanqa[openvino]'"
# Where OpenVINO keeps compiled models: loading one again takes ~0.2 s instead of ~0.5 s of compiling
# (MiniLM-L6 int8). An empty value turns the cache off. OpenVINO keys entries by model, settings and CPU.
CACHE_ENV = "SPANQA_OPENVINO_CACHE"
SHAPE_STEP = 64


class OpenVinoRuntime:
    """Runs an OpenVINO span model on the CPU (one reused inference request per padded shape)."""

    def __init__(self, model_path: str | os.PathLike[str], precision: str = "int8", threads: int | None = None) -> None:
        ov = import_openvino()
        model_path = Path(model_path)
        weights = model_path.with_suffix(".bin")
        if not model_path.is_file() or not weights.is_file():
            missing = model_path if not model_path.is_file() else weights
            raise ModelFolderError(f"the OpenVINO model file {missing} is missing: export the folder again")
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            # The parts NNCF left in floating point run in fp32: on CPUs with native bf16 OpenVINO would
            # otherwise pick bf16 for them, which changed 1% of best spans of the fp32 model in the probe.
            "INFERENCE_PRECISION_HINT": "f32",
        }
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        cache = compile_cache_dir()
        if cache is not None:
            config["CACHE_DIR"] = str(cache)
        try:
            self.core = ov.Core()
            self.model = self.core.read_model(str(model_path), str(weights))
        except RuntimeError as error:  # openvino raises RuntimeError for a broken or foreign file
            raise ModelFolderError(f"cannot load the OpenVINO model {model_path}: {error}") from error
        self.config = config
        self.model_path = model_path
        self.precision = precision
        self.input_names = [port.get_any_name() for port in self.model.inputs]
        self.output_names = [port.get_any_name() for port in self.model.outputs]
        self.requests: dict[int | None, Any] = {}  # padded length (None: dynamic shapes) -> its infer request
        # Static int8 has no per-batch scale, yet OpenVINO's kernels round differently for different
        # batch shapes (up to 0.19 in a logit between a window alone and in a batch of 8, default model),
        # so scores would depend on the other questions. Windows run one at a time, like dynamic int8.
        self.batch_independent = False

    def request_for(self, batch_size: int, length: int) -> tuple[Any, int]:
        """(infer request, padded length) for a [batch_size, length] batch, compiling its model when first needed."""
        padded = -(-length // SHAPE_STEP) * SHAPE_STEP if batch_size == 1 else None
        if padded not in self.requests:
            model = self.model
            if padded is not None:
                model = self.model.clone()
                model.reshape({name: [1, padded] for name in self.input_names})
            try:
                compiled = self.core.compile_model(model, "CPU", self.config)
            except RuntimeError as error:
                raise ModelFolderError(f"cannot compile the OpenVINO model {self.model_path}: {error}") from error
            self.requests[padded] = compiled.create_infer_request()
        return self.requests[padded], padded if padded is not None else length

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        start_logits, end_logits = self.outputs(batch, self.output_names[:2])
        return start_logits, end_logits

    def outputs(self, batch: dict[str, np.ndarray], names: list[str] | None = None) -> list[np.ndarray]:
        """The model's outputs `names` (None: all of them) as float32 arrays."""
        feed = exported_model_feed(batch, self.input_names, "OpenVINO")
        rows, length = feed["input_ids"].shape
        request, padded = self.request_for(rows, length)
        if padded != length:  # padding is masked out: the real tokens' logits do not change
            feed = {name: np.pad(array, ((0, 0), (0, padded - length))) for name, array in feed.items()}
        results = request.infer(feed)
        by_name = {port.get_any_name(): value for port, value in results.items()}
        # a copy (the request reuses its buffers), trimmed back to the batch's length on every token axis
        return [_trimmed(np.array(by_name[name], dtype=np.float32), length) for name in names or self.output_names]


def _trimmed(array: np.ndarray, length: int) -> np.ndarray:
    return array[(slice(None), *(slice(0, length) for _ in range(1, array.ndim)))]


def compile_cache_dir() -> Path | None:
    """$SPANQA_OPENVINO_CACHE, else $XDG_CACHE_HOME/spanqa/openvino (~/.cache/...); None when off or not writable."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None and not chosen.strip():
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = Path(chosen).expanduser() if chosen else base / "spanqa" / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: compile every time rather than fail
    return folder if os.access(folder, os.W_OK) else None


def import_openvino() -> Any:
    """The openvino package, or one clear error naming the extra that installs it."""
    try:
        import openvino
    except ImportError as error:
        raise MissingExtraError(
            f"the openvino backend needs the openvino package: {INSTALL_HINT} (or use --backend onnx)"
        ) from error
    return openvino
