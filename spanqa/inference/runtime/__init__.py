"""Stage 2: run a span model on padded batches of windows (torch, ONNX Runtime, or OpenVINO).

`load_runtime` turns a model folder into what the reader needs: a runtime (the `Runtime`
protocol of `base`), the tokenizer and the folder's ModelInfo. torch, onnxruntime and openvino
are imported only by the back-end that is chosen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spanqa.errors import InputError
from spanqa.inference.runtime.base import Runtime
from spanqa.model.folder import (
    ModelInfo,
    Task,
    check_task,
    onnx_model_file,
    openvino_model_file,
    read_model_info,
    resolve_backend,
    shipped_if_default,
)

__all__ = ["LoadedRuntime", "Runtime", "load_runtime"]


@dataclass(frozen=True)
class LoadedRuntime:
    runtime: Runtime  # a ClassifierRuntime (base.py) when the folder's task is "classify"
    tokenizer: Any  # a SpanTokenizer or a transformers fast tokenizer
    info: ModelInfo
    folder: Path


def load_runtime(
    path: str | os.PathLike[str] | None,
    *,
    backend: str = "auto",
    precision: str = "auto",
    device: str = "cpu",
    threads: int | None = None,
    spin_wait: bool = True,
    task: Task = "reader",
) -> LoadedRuntime:
    """Load `path` (None or "default": the default model) on the back-end `resolve_backend` picks for it.

    `task` is what the caller runs ("reader" or "classify"): a folder of the other task is one clear error.
    """
    path = shipped_if_default(path)
    check_task(path, task)
    backend, precision = resolve_backend(path, backend, precision)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads must be a positive integer, got {threads!r}")
    if backend == "onnx":
        if device != "cpu":
            raise InputError(f"the onnx backend runs on the CPU only, not {device!r}: use backend 'torch'")
        return _load_onnx(path, precision, threads, spin_wait, task)
    if backend == "openvino":
        if device != "cpu":
            raise InputError(f"the openvino backend runs on the CPU only, not {device!r}: use backend 'torch'")
        if task == "classify":
            raise InputError("the openvino backend runs question-answering models only: use backend 'onnx' or 'torch'")
        return _load_openvino(path, precision, threads)
    if backend == "torch":
        return _load_torch(path, precision, device, threads, task)
    raise InputError(f"backend must be 'torch', 'onnx' or 'openvino', got {backend!r}")


def _load_onnx(path, precision: str, threads: int | None, spin_wait: bool, task: Task = "reader") -> LoadedRuntime:
    from spanqa.inference.runtime.onnx import OnnxRuntime

    folder, precision, model_file = onnx_model_file(path, precision)
    info = read_model_info(folder)
    tokenizer = _folder_tokenizer(folder)
    if task == "classify":
        from spanqa.inference.runtime.classifier import OnnxClassifierRuntime

        runtime = OnnxClassifierRuntime(model_file, precision=precision, threads=threads, spin_wait=spin_wait)
        return LoadedRuntime(runtime, tokenizer, info.replace(task="classify"), folder)
    runtime = OnnxRuntime(model_file, precision=precision, threads=threads, spin_wait=spin_wait)
    return LoadedRuntime(runtime, tokenizer, info, folder)


def _load_openvino(path, precision: str, threads: int | None) -> LoadedRuntime:
    from spanqa.inference.runtime.openvino import OpenVinoRuntime

    folder, precision, model_file = openvino_model_file(path, precision)
    info = read_model_info(folder)
    runtime = OpenVinoRuntime(model_file, precision=precision, threads=threads)
    return LoadedRuntime(runtime, _folder_tokenizer(folder), info, folder)


def _load_torch(path, precision: str, device: str, threads: int | None, task: Task = "reader") -> LoadedRuntime:
    if task == "classify":
        from spanqa.inference.runtime.classifier import TorchClassifierRuntime as runtime_class
        from spanqa.model.classifier_io import load_classifier_model as load
    else:
        from spanqa.inference.runtime.torch import TorchRuntime as runtime_class
        from spanqa.model.torch_io import load_model as load

    loaded = load(path)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    runtime = runtime_class(loaded.model, precision=precision, device=device)
    return LoadedRuntime(runtime, loaded.tokenizer, loaded.info, loaded.path)


def _folder_tokenizer(folder: Path):
    """The `tokenizers`-only tokenizer when the folder has a tokenizer.json (milliseconds, no transformers
    and no torch import: most of the onnx backend's start-up); transformers' AutoTokenizer otherwise."""
    if (folder / "tokenizer.json").is_file():
        from spanqa.inference.tokenization import SpanTokenizer

        return SpanTokenizer.from_folder(folder)
    from spanqa.model.torch_io import load_tokenizer

    return load_tokenizer(str(folder))
