"""The keyword arguments of transformers' old question-answering pipeline, checked and turned into ReaderSettings.

Two kinds of arguments:

- settings (`top_k` and its old alias `topk`, `doc_stride`, `max_answer_len`, `max_seq_len`,
  `max_question_len`, `handle_impossible_answer`, `align_to_words`) and `batch_size`, given to
  `pipeline(...)` as defaults or to a call; unset ones take the old pipeline's defaults, not the
  model folder's (`max_answer_len` 15, `max_seq_len` min(384, the tokenizer's limit), `doc_stride`
  min(max_seq_len // 2, 128), `max_question_len` 64, `top_k` 1, no "no answer", whole words);
- old arguments that mean nothing here (where the model runs, how it was downloaded, padding):
  accepted at values that change nothing, refused with an error naming them otherwise
  (see INERT_ARGUMENTS and `check_inert`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spanqa.errors import InputError
from spanqa.settings import MAX_SPECIAL_TOKENS, ReaderSettings

SETTING_ARGUMENTS = (
    "top_k",
    "topk",
    "doc_stride",
    "max_answer_len",
    "max_seq_len",
    "max_question_len",
    "handle_impossible_answer",
    "align_to_words",
)
BATCH_ARGUMENTS = ("batch_size", "num_workers")
OLD_MAX_SEQ_LEN = 384
OLD_MAX_ANSWER_LEN = 15  # the old pipeline's postprocess default; spanqa's own default is 30
OLD_MAX_QUESTION_LEN = 64


def _is_cpu(value: Any) -> bool:
    # -1 is the old pipeline's "CPU"; str() also covers torch.device("cpu") without importing torch
    if value is None or str(value) == "cpu":
        return True
    return isinstance(value, int) and not isinstance(value, bool) and value == -1


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    return lambda value: any(value is choice or (type(value) is type(choice) and value == choice) for choice in allowed)


@dataclass(frozen=True)
class Inert:
    """An old argument spanqa has no use for: `accepts(value)` says whether `value` changes nothing."""

    accepts: Callable[[Any], bool]
    accepted: str  # the values accepted, for the docs and the error
    why: str  # what to do instead


# Old arguments, of pipeline(...) or of a call, that mean nothing in spanqa.
INERT_ARGUMENTS: dict[str, Inert] = {
    "device": Inert(
        _is_cpu,
        'None, -1, "cpu"',
        "this pipeline runs on the CPU; for a GPU load the model with "
        "spanqa.Reader.load(path, backend='torch', device='cuda') and pass the Reader as model=",
    ),
    "device_map": Inert(_one_of(None, "cpu"), 'None, "cpu"', "spanqa loads the whole model on one device"),
    "framework": Inert(_one_of(None, "pt"), 'None, "pt"', "spanqa runs PyTorch or ONNX Runtime models only"),
    "config": Inert(_one_of(None), "None", "spanqa reads config.json from the model folder"),
    "feature_extractor": Inert(_one_of(None), "None", "a text model needs none"),
    "image_processor": Inert(_one_of(None), "None", "a text model needs none"),
    "processor": Inert(_one_of(None), "None", "spanqa reads the tokenizer from the model folder"),
    "revision": Inert(_one_of(None, "main"), 'None, "main"', "spanqa loads local folders: check out the revision"),
    "token": Inert(_one_of(None, False), "None, False", "spanqa loads local folders and never downloads"),
    "use_auth_token": Inert(_one_of(None, False), "None, False", "spanqa loads local folders and never downloads"),
    "use_fast": Inert(_one_of(None, True), "None, True", "spanqa always uses the folder's fast tokenizer"),
    "trust_remote_code": Inert(_one_of(None, False), "None, False", "spanqa runs no code from model folders"),
    "model_kwargs": Inert(lambda value: value is None or value == {}, "None, {}", "spanqa loads models itself"),
    "pipeline_class": Inert(_one_of(None), "None", "spanqa.pipeline builds its own pipeline"),
    "binary_output": Inert(_one_of(None, False), "None, False", "the answers are plain dicts"),
    # Padding never changed an answer (padded tokens are masked); spanqa pads each batch to its longest window.
    "padding": Inert(
        _one_of(None, False, True, "do_not_pad", "longest", "max_length"),
        'None, False, True, "do_not_pad", "longest", "max_length"',
        "not a padding strategy",
    ),
}

# How the old `dtype` / `torch_dtype` map to spanqa's precision (str() of torch.float32 is "torch.float32");
# "auto", the old default, leaves the choice to spanqa (None: as if not given).
DTYPE_PRECISION = {
    "None": None,
    "auto": None,
    "float32": "fp32",
    "torch.float32": "fp32",
    "bfloat16": "bf16",
    "torch.bfloat16": "bf16",
}


def check_inert(name: str, value: Any) -> None:
    """Nothing when `value` of the old argument `name` changes nothing here; an InputError otherwise."""
    inert = INERT_ARGUMENTS[name]
    if not inert.accepts(value):
        raise InputError(
            f"{name}={value!r} has no meaning in spanqa's question-answering pipeline ({inert.why}); "
            f"drop it (accepted, and ignored: {inert.accepted})"
        )


def dtype_precision(name: str, value: Any) -> str | None:
    """spanqa's precision for the old `dtype`/`torch_dtype` (None: not given)."""
    text = "None" if value is None else str(value)
    if text not in DTYPE_PRECISION:
        raise InputError(
            f"{name}={value!r} is not a precision spanqa runs: use torch.float32 or torch.bfloat16 (torch), "
            "or precision='int8' (ONNX)"
        )
    return DTYPE_PRECISION[text]


def unknown_argument(name: str) -> InputError:
    known = sorted({*SETTING_ARGUMENTS, *BATCH_ARGUMENTS, "question", "context"})
    return InputError(
        f"{name!r} is not an argument of the question-answering pipeline: the arguments are {', '.join(known)} "
        f"(and, ignored at harmless values, {', '.join(sorted(INERT_ARGUMENTS))})"
    )


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings, batch options) of call or pipeline keyword arguments; inert ones checked and dropped."""
    settings, batch = {}, {}
    for name, value in options.items():
        if name in SETTING_ARGUMENTS:
            settings[name] = value
        elif name in BATCH_ARGUMENTS:
            batch[name] = value
        elif name in INERT_ARGUMENTS:
            check_inert(name, value)
        else:
            raise unknown_argument(name)
    return settings, batch


def batch_size_of(batch: dict[str, Any]) -> int:
    """Windows per model run: the call's `batch_size` (None: 32). `num_workers` is accepted and unused."""
    size = batch.get("batch_size")
    if size is None:
        return 32
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InputError(f"batch_size must be a positive integer, got {size!r}")
    workers = batch.get("num_workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise InputError(f"num_workers must be an integer >= 0, got {workers!r}")
    return size


def resolve_topk_alias(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` with the deprecated `topk` renamed `top_k` (as before: `top_k` wins, the alias alone warns)."""
    resolved = {name: value for name, value in settings.items() if name != "topk"}
    if settings.get("topk") is not None and resolved.get("top_k") is None:
        warnings.warn("topk parameter is deprecated, use top_k instead", UserWarning, stacklevel=3)
        resolved["top_k"] = settings["topk"]
    return resolved


def old_settings(base: ReaderSettings, given: dict[str, Any], token_limit: int | None = None) -> ReaderSettings:
    """`base` (the reader's) with the old pipeline's windowing and decoding: `given` where set, its defaults elsewhere.

    `token_limit` is the tokenizer's `model_max_length` when known: the old default max_seq_len was
    min(384, it). The no-answer, with handle_impossible_answer, competes with the answers by score
    (null_threshold None), as it did in the old pipeline.
    """
    given = {name: value for name, value in given.items() if value is not None}
    for name in ("handle_impossible_answer", "align_to_words"):
        if name in given and not isinstance(given[name], bool):
            raise InputError(f"{name} must be True or False, got {given[name]!r}")
    default_seq_len = OLD_MAX_SEQ_LEN if token_limit is None else min(OLD_MAX_SEQ_LEN, token_limit)
    max_seq_len = given.get("max_seq_len", default_seq_len)
    doc_stride = given.get("doc_stride", min(max_seq_len // 2, 128) if isinstance(max_seq_len, int) else 128)
    if "max_question_len" in given or not isinstance(max_seq_len, int) or not isinstance(doc_stride, int):
        max_question_len = given.get("max_question_len", OLD_MAX_QUESTION_LEN)
    else:
        # The old pipeline did not cut questions (fast tokenizers), so a short max_seq_len worked with
        # the default max_question_len; spanqa keeps room for more than doc_stride context tokens.
        max_question_len = max(1, min(OLD_MAX_QUESTION_LEN, max_seq_len - MAX_SPECIAL_TOKENS - doc_stride - 1))
    values = {
        **base.to_dict(),
        "max_seq_len": max_seq_len,
        "doc_stride": doc_stride,
        "max_question_len": max_question_len,
        "max_answer_len": given.get("max_answer_len", OLD_MAX_ANSWER_LEN),
        "top_k": given.get("top_k", 1),
        "handle_impossible_answer": given.get("handle_impossible_answer", False),
        "align_to_words": given.get("align_to_words", True),
        "null_threshold": None,
    }
    return ReaderSettings.from_dict(values)
