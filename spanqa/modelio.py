"""The model folder format: Hugging Face files (config, weights, fast tokenizer) + spanqa.json.

A linear-head folder is a plain transformers question-answering folder; a pointer-head
folder holds the encoder in the transformers layout and the head in pointer_head.safetensors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spanqa.errors import ModelFolderError
from spanqa.runtime.onnx_runtime import ONNX_FILES
from spanqa.settings import SETTINGS_FILE, ModelInfo, model_info_payload, read_model_info

POINTER_HEAD_FILE = "pointer_head.safetensors"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "default"
# Every file of a folder's weights, sharded ones and the pointer head included (WEIGHT_FILES only
# says whether a folder has weights at all).
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


@dataclass
class LoadedModel:
    model: object  # spanqa.heads.SpanModel
    tokenizer: object
    info: ModelInfo
    path: Path


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def resolve_model_path(path: str | os.PathLike[str] | None) -> str:
    """The folder to load: `path`, or the default model shipped inside the package."""
    if path is None:
        if not (DEFAULT_MODEL_DIR / "config.json").exists():
            raise ModelFolderError(
                "no default model is installed with this copy of spanqa: pass --model PATH (a question-answering "
                "folder), or train one with `spanqa train --base PATH --train DATA.json --out MODEL_DIR`"
            )
        return str(DEFAULT_MODEL_DIR)
    name = str(path)
    if _looks_like_hub_id(name):
        return name  # a Hugging Face Hub id, for users who are online
    folder = Path(name).expanduser()
    if not folder.exists():
        raise ModelFolderError(f"model folder {folder} does not exist: check the path (--model)")
    if not folder.is_dir():
        raise ModelFolderError(f"model path {folder} is a file; pass the folder that holds config.json")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ModelFolderError(f"model folder {folder} is not readable: check its permissions")
    if not (folder / "config.json").exists():
        raise ModelFolderError(f"model folder {folder} has no config.json: it is not a Hugging Face model folder")
    if not any((folder / name).exists() for name in WEIGHT_FILES):
        raise ModelFolderError(f"model folder {folder} has no weights ({' or '.join(WEIGHT_FILES[::2])})")
    return str(folder)


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    except Exception as error:  # transformers raises many kinds for a bad folder
        raise ModelFolderError(f"cannot load a tokenizer from {path}: {error}") from error
    # transformers 5 builds an empty tokenizer (special tokens only) when a folder has no vocabulary
    # at all: every word would become [UNK] and every answer would be garbage.
    if len(tokenizer) <= len(tokenizer.all_special_tokens) + 1:
        raise ModelFolderError(
            f"the model folder {path} has no tokenizer vocabulary (tokenizer.json, vocab.txt, ...): copy the "
            "tokenizer files of the base model into it"
        )
    if not getattr(tokenizer, "is_fast", False):
        raise ModelFolderError(
            f"the tokenizer in {path} is a slow (Python) tokenizer: spanqa needs a fast tokenizer for character "
            "offsets; add a tokenizer.json (save the tokenizer with transformers' fast tokenizer class)"
        )
    return tokenizer


def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    return previous


def load_model(
    path: str | os.PathLike[str] | None = None, *, head: str | None = None, for_training: bool = False
) -> LoadedModel:
    """Load a model folder. With `for_training`, an encoder without a span head gets a fresh one."""
    import torch
    from transformers import AutoModel, AutoModelForQuestionAnswering
    from transformers.utils import logging as hf_logging

    from spanqa.heads import SpanModel

    resolved = resolve_model_path(path)
    info = read_model_info(resolved) if Path(resolved).exists() else ModelInfo()
    has_spanqa_file = (Path(resolved) / SETTINGS_FILE).exists()
    head_type = head or info.head
    tokenizer = load_tokenizer(resolved)
    previous = _quiet_transformers()
    try:
        if head_type == "linear":
            # Weights may be stored in fp16 (the shipped model is); compute in fp32 (or bf16 autocast).
            backbone, loading = AutoModelForQuestionAnswering.from_pretrained(
                resolved, output_loading_info=True, dtype=torch.float32
            )
            fresh_head = any("qa_outputs" in key for key in loading.get("missing_keys", []))
        else:
            backbone = AutoModel.from_pretrained(resolved, dtype=torch.float32)
            fresh_head = not (Path(resolved) / POINTER_HEAD_FILE).exists()
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelFolderError(f"cannot load model weights from {resolved}: {error}") from error
    finally:
        hf_logging.set_verbosity(previous)
    if fresh_head and not for_training:
        raise ModelFolderError(
            f"{resolved} holds an encoder without a trained question-answering head: fine-tune it first with "
            f"`spanqa train --base {resolved} ...`"
        )
    model = SpanModel(backbone, head_type)
    if head_type == "pointer" and not fresh_head:
        from safetensors.torch import load_file

        head_state = load_file(str(Path(resolved) / POINTER_HEAD_FILE))
        model.pointer.load_state_dict({name: tensor.float() for name, tensor in head_state.items()})
    if not has_spanqa_file:
        logging.getLogger(__name__).debug("no %s in %s: using reader defaults", SETTINGS_FILE, resolved)
    model.eval()
    return LoadedModel(
        model=model, tokenizer=tokenizer, info=ModelInfo(head_type, info.settings, info.extra), path=Path(resolved)
    )


def save_model(
    model, tokenizer, info: ModelInfo, folder: str | os.PathLike[str], dtype=None, keep_other_files: bool = False
) -> None:
    """Write a complete model folder atomically: a reader never sees half of it.

    With `keep_other_files` (a training output folder that also holds checkpoints and logs)
    the model files are moved in one by one, each atomically, and the rest is left alone.
    """
    from safetensors.torch import save_file

    from spanqa.fileio import make_permissions_normal, write_json_atomic

    destination = Path(folder)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        if model.head_type == "linear":
            backbone = model.qa
        else:
            backbone = model.encoder
            head_state = {
                k: v.detach().to(dtype or v.dtype).contiguous() for k, v in model.pointer.state_dict().items()
            }
            save_file(head_state, str(staging / POINTER_HEAD_FILE))
        if dtype is not None:
            import copy

            backbone = copy.deepcopy(backbone).to(dtype)
        _quiet_transformers()
        backbone.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json_atomic(staging / SETTINGS_FILE, model_info_payload(info))
        for path in [staging, *staging.iterdir()]:
            make_permissions_normal(path)
        if keep_other_files:
            _move_files_into(staging, destination)
        else:
            _swap_folder(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_files_into(staging: Path, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    # Weights go last: a folder whose config and tokenizer are new but weights old is never loaded
    # with a mismatched head, because spanqa.json and the weights are replaced together at the end.
    names = sorted(p.name for p in staging.iterdir())
    names.sort(key=lambda name: name.endswith(".safetensors") or name == "spanqa.json")
    for name in names:
        os.replace(staging / name, destination / name)
    # An ONNX copy exported from the previous weights would now answer for them (backend="auto"
    # prefers ONNX): it goes once the new weights are in place.
    for name in ONNX_FILES.values():
        if name not in names:
            (destination / name).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)


def _swap_folder(staging: Path, destination: Path) -> None:
    if destination.exists():
        retired = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        os.replace(destination, retired)
        os.replace(staging, destination)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, destination)


def training_runs(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The `spanqa train` runs that made a model folder, oldest first.

    A run that started from another spanqa model (a `--base` folder with its own training
    record in spanqa.json) comes after that model's runs, so a training in stages is whole.
    """
    runs: list[dict[str, Any]] = []
    current: Path | None = Path(folder)
    while current is not None and (current / SETTINGS_FILE).exists():
        training = read_model_info(current).extra.get("training")
        if not isinstance(training, dict):
            break
        runs.insert(0, training)
        current = Path(training["base"]) if training.get("base") else None
    return runs


def weights_fingerprint(model_dir: str | os.PathLike[str]) -> str:
    """SHA-256 over the weight files of `model_dir`: says which weights an export was made from."""
    digest = hashlib.sha256()
    files = sorted(path for pattern in WEIGHT_PATTERNS for path in Path(model_dir).glob(pattern))
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
