"""The ONNX Runtime backend (fp32, or dynamic int8), and where `backend="auto"` is decided.

An ONNX model folder is what `spanqa export MODEL --onnx OUT` writes: `model.onnx` (fp32) or
`model.int8.onnx` (dynamic int8), the tokenizer files, config.json and a spanqa.json whose
`backend` / `precision` fields say what the folder holds. A torch model folder may also carry
these files beside its weights (the default model can ship both).

onnxruntime and torch are imported only when a model is loaded, so `resolve_backend` stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spanqa.errors import ConfigError, InputError, MissingExtraError, ModelFolderError

ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
ONNX_PRECISIONS = tuple(ONNX_FILES)
TORCH_PRECISIONS = ("fp32", "bf16")
BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
# What `backend="auto"` picks when a folder holds several ONNX files: fastest first.
# int8 is first because it was measured within the accuracy budget (see bench/speed.py reports).
AUTO_ONNX_ORDER = ("int8", "fp32")


def export_hint(folder: str | os.PathLike[str] | None) -> str:
    source = folder if folder is not None else "MODEL_DIR"
    return f"create one with `spanqa export {source} --onnx OUT_DIR` (add --int8 for the int8 model)"


def onnx_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """{precision: path} of the ONNX models in `folder` (empty when there are none)."""
    found = {}
    for precision, name in ONNX_FILES.items():
        path = Path(folder) / name
        if path.is_file():
            found[precision] = path
    return found


def _torch_weights_present(folder: Path) -> bool:
    from spanqa.modelio import WEIGHT_FILES

    return any((folder / name).exists() for name in WEIGHT_FILES)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return False


def _local_folder(path: str | os.PathLike[str] | None) -> Path | None:
    """The local folder `path` names (None for a Hub id); the default model folder for None."""
    from spanqa.modelio import resolve_model_path

    if path is None:
        return Path(resolve_model_path(None))
    folder = Path(path).expanduser()
    return folder if folder.is_dir() else None


def resolve_backend(
    path: str | os.PathLike[str] | None, backend: str = "auto", precision: str = "auto"
) -> tuple[str, str]:
    """The (backend, precision) to load `path` with; "auto" picks the fastest accurate choice.

    - An ONNX folder (ONNX files, no torch weights) runs on onnx; precision "auto" takes int8
      when the folder has it, else fp32.
    - A torch folder runs on torch; precision "auto" takes bf16 when the CPU multiplies bf16
      natively, else fp32. A torch folder that also carries ONNX files runs them with "auto".
    - Explicit choices are checked: torch runs fp32/bf16, onnx runs fp32/int8.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend == "torch" and precision == "int8":
        raise ConfigError("the torch backend runs fp32 or bf16, not 'int8': int8 needs --backend onnx")
    if backend == "onnx" and precision == "bf16":
        raise ConfigError("the onnx backend runs fp32 or int8, not 'bf16': bf16 needs --backend torch")
    folder = _local_folder(path)
    available = onnx_files(folder) if folder is not None else {}
    if backend == "auto":
        if precision == "int8":
            backend = "onnx"
        elif precision == "bf16" or not available:
            backend = "torch"
        elif precision == "fp32":
            backend = "onnx" if "fp32" in available or not _torch_weights_present(folder) else "torch"
        else:
            backend = "onnx"
    if precision == "auto":
        if backend == "onnx":
            precision = next((p for p in AUTO_ONNX_ORDER if p in available), "fp32")
        else:
            precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    if backend == "torch" and folder is not None and available and not _torch_weights_present(folder):
        raise ModelFolderError(
            f"{folder} is an ONNX model folder without torch weights: load it with backend 'onnx' (--backend onnx) "
            "or 'auto'"
        )
    return backend, precision


# ---------------------------------------------------------------------------- the runtime
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
        # input_ids/attention_mask/token_type_ids: [B, L] int64
        feed = {name: np.ascontiguousarray(batch[name], dtype=np.int64) for name in self.input_names if name in batch}
        missing = [name for name in self.input_names if name not in feed]
        if missing:
            if missing == ["token_type_ids"]:
                feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
            else:
                raise InputError(f"the ONNX model needs the input(s) {', '.join(missing)}, which the batch lacks")
        start_logits, end_logits = self.session.run(self.output_names[:2], feed)
        return start_logits.astype(np.float32, copy=False), end_logits.astype(np.float32, copy=False)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingExtraError(
            "the onnx backend needs onnxruntime: pip install onnxruntime (or use --backend torch)"
        ) from error
    return onnxruntime


def _load_tokenizer(folder: Path):
    """The `tokenizers`-only tokenizer when the folder has a tokenizer.json (milliseconds, no transformers
    and no torch import: most of the onnx backend's start-up); transformers' AutoTokenizer otherwise."""
    if (folder / "tokenizer.json").is_file():
        from spanqa.tokenization import SpanTokenizer

        return SpanTokenizer.from_folder(folder)
    from spanqa.modelio import load_tokenizer

    return load_tokenizer(str(folder))


def load_onnx_reader_parts(
    path: str | os.PathLike[str] | None, precision: str = "auto", threads: int | None = None, spin_wait: bool = True
):
    """(runtime, tokenizer, info, folder) of the ONNX model in `path` for `Reader`."""
    from spanqa.settings import read_model_info

    folder = _local_folder(path)
    if folder is None:
        source = Path(str(path)).expanduser()
        if not source.exists():
            raise ModelFolderError(f"model folder {source} does not exist: check the path (--model)")
        raise ModelFolderError(f"model path {source} is a file; pass the folder that holds model.onnx")
    if precision == "bf16":
        raise ConfigError("the onnx backend runs fp32 or int8, not 'bf16': bf16 needs --backend torch")
    if precision not in ("auto", *ONNX_PRECISIONS):
        raise InputError(f"precision must be fp32 or int8 for the onnx backend, got {precision!r}")
    available = onnx_files(folder)
    if not available:
        names = " or ".join(ONNX_FILES.values())
        raise ModelFolderError(f"{folder} holds no ONNX model ({names}): {export_hint(path)}")
    if precision == "auto":
        precision = next(p for p in AUTO_ONNX_ORDER if p in available)
    if precision not in available:
        flag = " --int8" if precision == "int8" else ""
        raise ModelFolderError(
            f"{folder} has no {precision} ONNX model ({ONNX_FILES[precision]}; it holds "
            f"{', '.join(sorted(available))}): export one with `spanqa export SOURCE_MODEL_DIR --onnx OUT_DIR{flag}`, "
            f"or pass --precision {next(iter(available))}"
        )
    info = read_model_info(folder)
    tokenizer = _load_tokenizer(folder)
    runtime = OnnxRuntime(available[precision], precision=precision, threads=threads, spin_wait=spin_wait)
    return runtime, tokenizer, info, folder
