"""Load and save model folders with torch and transformers (the folder format is spanqa.model.folder)."""

from __future__ import annotations

import copy
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from spanqa.errors import ModelFolderError
from spanqa.fileio import make_permissions_normal, staged_folder, swap_folder, write_json_atomic
from spanqa.model.folder import (
    ONNX_FILES,
    POINTER_HEAD_FILE,
    SETTINGS_FILE,
    ModelInfo,
    looks_like_hub_id,
    model_info_payload,
    read_model_info,
    resolve_model_path,
)


@dataclass
class LoadedModel:
    model: object  # spanqa.model.heads.SpanModel
    tokenizer: object
    info: ModelInfo
    path: Path


def hub_is_reachable() -> bool:
    """False when the Hugging Face Hub's host does not even resolve (offline, or HF_HUB_OFFLINE set).

    Without this check a mistyped "folder/name" with no network waits about a minute in
    huggingface_hub's retries, printing each one, before it fails.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def load_tokenizer(path: str, local_files_only: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, local_files_only=local_files_only)
    except Exception as error:  # transformers raises many kinds for a bad folder
        if looks_like_hub_id(path):
            raise ModelFolderError(
                f"model folder {path} does not exist, and it is no model on the Hugging Face Hub either (or the Hub "
                "cannot be reached): check the path (--model)"
            ) from error
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


def quiet_transformers():
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
    from safetensors import SafetensorError
    from transformers import AutoModel, AutoModelForQuestionAnswering
    from transformers.utils import logging as hf_logging

    from spanqa.model.heads import SpanModel

    resolved = resolve_model_path(path)
    info = read_model_info(resolved) if Path(resolved).exists() else ModelInfo()
    has_spanqa_file = (Path(resolved) / SETTINGS_FILE).exists()
    head_type = head or info.head
    # A Hub id is looked up online only when the Hub can be reached; else only in the local cache.
    cache_only = looks_like_hub_id(resolved) and not hub_is_reachable()
    tokenizer = load_tokenizer(resolved, local_files_only=cache_only)
    previous = quiet_transformers()
    try:
        if head_type == "linear":
            # Weights may be stored in fp16 (the shipped model is); compute in fp32 (or bf16 autocast).
            backbone, loading = AutoModelForQuestionAnswering.from_pretrained(
                resolved, output_loading_info=True, dtype=torch.float32, local_files_only=cache_only
            )
            fresh_head = any("qa_outputs" in key for key in loading.get("missing_keys", []))
        else:
            backbone = AutoModel.from_pretrained(resolved, dtype=torch.float32, local_files_only=cache_only)
            fresh_head = not (Path(resolved) / POINTER_HEAD_FILE).exists()
    except SafetensorError as error:
        raise ModelFolderError(
            f"the weights in {resolved} are truncated or corrupt ({error}): copy the model folder again, or save "
            "the model anew"
        ) from error
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

        try:
            head_state = load_file(str(Path(resolved) / POINTER_HEAD_FILE))
        except SafetensorError as error:
            raise ModelFolderError(
                f"{Path(resolved) / POINTER_HEAD_FILE} is truncated or corrupt ({error}): copy the model folder "
                "again, or save the model anew"
            ) from error
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

    with staged_folder(folder, install=move_files_into if keep_other_files else swap_folder) as staging:
        if model.head_type == "linear":
            backbone = model.qa
        else:
            backbone = model.encoder
            head_state = {
                k: v.detach().to(dtype or v.dtype).contiguous() for k, v in model.pointer.state_dict().items()
            }
            save_file(head_state, str(staging / POINTER_HEAD_FILE))
        if dtype is not None:
            backbone = copy.deepcopy(backbone).to(dtype)
        quiet_transformers()
        backbone.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json_atomic(staging / SETTINGS_FILE, model_info_payload(info))
        for path in staging.iterdir():
            make_permissions_normal(path)


def move_files_into(staging: Path, destination: Path) -> None:
    """Install a staged model's files into an existing folder, each atomically, leaving its other files."""
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
