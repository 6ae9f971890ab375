"""The model folder format, in one place: what a folder holds, what its files mean, what runs it.

A model is a Hugging Face folder (config.json, weights, a fast tokenizer) plus `spanqa.json`
(the head type, the reader's defaults, and records such as training runs and scores):

- a linear-head folder is a plain transformers question-answering folder;
- a pointer-head folder holds the encoder in the transformers layout and the head in
  pointer_head.safetensors;
- an ONNX folder (what `spanqa export --onnx` writes) holds model.onnx and/or model.int8.onnx instead
  of, or beside, torch weights;
- an OpenVINO folder (what `spanqa export --openvino` writes) holds model.openvino.xml + .bin (int8,
  NNCF post-training quantisation) and/or model.openvino-fp32.xml + .bin.

This module reads names and files only: it imports neither torch nor onnxruntime at module
level, so choosing a back-end costs milliseconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from spanqa.errors import ConfigError, InputError, ModelFolderError
from spanqa.fileio import write_json_atomic
from spanqa.settings import HeadType, ReaderSettings

SETTINGS_FILE = "spanqa.json"
POINTER_HEAD_FILE = "pointer_head.safetensors"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# Every file of a folder's weights, sharded ones and the pointer head included (WEIGHT_FILES only
# says whether a folder has weights at all).
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
ONNX_PRECISIONS = tuple(ONNX_FILES)
TORCH_PRECISIONS = ("fp32", "bf16")
# OpenVINO IR: each .xml names the graph, its weights are the .bin of the same stem beside it.
OPENVINO_FILES = {"int8": "model.openvino.xml", "fp32": "model.openvino-fp32.xml"}
OPENVINO_PRECISIONS = tuple(OPENVINO_FILES)
BACKENDS = ("auto", "torch", "onnx", "openvino")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
# What `backend="auto"` picks when a folder holds several ONNX files: fastest first.
# int8 is first because it was measured within the accuracy budget (see bench/speed.py reports).
AUTO_ONNX_ORDER = ("int8", "fp32")
# ... and among OpenVINO files. A folder holding both kinds runs OpenVINO when it is installed: its
# files are there only because someone exported them into it, and its NNCF int8 is as fast as ONNX
# Runtime's dynamic int8 once its shapes are compiled, and closer to fp32 (reports/speed.md). The
# default model ships no OpenVINO files because OpenVINO is an extra.
AUTO_OPENVINO_ORDER = ("int8", "fp32")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "default"
# What a folder's model does: "reader" (extractive QA, the default: folders without a task field are
# readers) or "classify" (sequence classification, spanqa.classify). Written to spanqa.json only when
# not "reader", so reader folders stay as they were.
Task = Literal["reader", "classify"]
TASKS = ("reader", "classify")
# What users type for the shipped model (`--model default`, `Reader.load("default")`).
DEFAULT_MODEL_NAME = "default"


def shipped_if_default(model: str | os.PathLike[str] | None) -> str | os.PathLike[str] | None:
    """None (the model shipped with spanqa) for None or "default", unless a folder named "default" exists."""
    if model is None or (str(model) == DEFAULT_MODEL_NAME and not Path(model).exists()):
        return None
    return model


# ---------------------------------------------------------------------------- spanqa.json
@dataclass(frozen=True)
class ModelInfo:
    """What `spanqa.json` says about a model folder beside its reader defaults."""

    head: HeadType = "linear"
    settings: ReaderSettings = dataclasses.field(default_factory=ReaderSettings)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    task: Task = "reader"

    def replace(self, **changes: Any) -> ModelInfo:
        return dataclasses.replace(self, **changes)


def read_model_info(folder: str | os.PathLike[str]) -> ModelInfo:
    """Read `spanqa.json` from a model folder; a folder without one gets the defaults."""
    path = Path(folder) / SETTINGS_FILE
    if not path.exists():
        return ModelInfo()
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelFolderError(f"{path} is not valid JSON ({error}): fix or delete it") from error
    if not isinstance(payload, dict):
        raise ModelFolderError(f"{path} should hold a JSON object")
    head = payload.get("head", "linear")
    if head not in ("linear", "pointer"):
        raise ModelFolderError(f"{path}: head must be 'linear' or 'pointer', got {head!r}")
    try:
        settings = ReaderSettings.from_dict(payload.get("reader", {}))
    except ConfigError as error:
        raise ModelFolderError(f"{path}: {error}") from error
    task = payload.get("task", "reader")
    if task not in TASKS:
        raise ModelFolderError(f"{path}: task must be one of {', '.join(TASKS)}, got {task!r}")
    extra = {k: v for k, v in payload.items() if k not in ("head", "reader", "task")}
    return ModelInfo(head=head, settings=settings, extra=extra, task=task)


def model_info_payload(info: ModelInfo) -> dict[str, Any]:
    task = {} if info.task == "reader" else {"task": info.task}
    return {**task, "head": info.head, "reader": info.settings.to_dict(), **info.extra}


def model_task(folder: str | os.PathLike[str]) -> Task:
    """What the model in `folder` does: spanqa.json's task, else config.json's architecture, else "reader".

    A plain Hugging Face folder (no spanqa.json) is a classifier when its architecture is a
    ...ForSequenceClassification, so `Classifier.load` takes any such folder as it is.
    """
    folder = Path(folder)
    if (folder / SETTINGS_FILE).exists():
        payload = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8") or "{}")
        if isinstance(payload, dict) and "task" in payload:
            return read_model_info(folder).task
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "reader"  # the loaders name what is wrong with a missing or broken config.json
    architectures = config.get("architectures") if isinstance(config, dict) else None
    if isinstance(architectures, list) and any(str(a).endswith("ForSequenceClassification") for a in architectures):
        return "classify"
    return "reader"


def check_task(path: str | os.PathLike[str] | None, expected: Task) -> None:
    """A ModelFolderError, naming the command that runs it, when the folder at `path` holds another task's model."""
    folder = local_folder(path)
    if folder is None or not (folder / "config.json").exists():
        return  # a Hub id, or a folder the loader will reject with its own message
    try:
        found = model_task(folder)
    except json.JSONDecodeError:
        return  # read_model_info names the broken spanqa.json
    if found == expected:
        return
    if found == "classify":
        raise ModelFolderError(
            f"{folder} is a text classifier, not a question-answering model: run it with "
            f"`spanqa classify --model {folder} TEXT` (Python: spanqa.Classifier.load)"
        )
    raise ModelFolderError(
        f"{folder} is a question-answering model, not a text classifier: run it with `spanqa ask --model {folder}` "
        "(Python: spanqa.Reader.load), or train a classifier with `spanqa train --task classify`"
    )


def write_model_info(folder: str | os.PathLike[str], info: ModelInfo) -> None:
    """Replace `spanqa.json` in a model folder (atomically: a crash leaves the old file whole)."""
    write_json_atomic(Path(folder) / SETTINGS_FILE, model_info_payload(info))


def training_runs(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The `spanqa train` runs that made a model folder, oldest first.

    A run that started from another spanqa model (a `--base` folder with its own training
    record in spanqa.json) comes after that model's runs, so a training in stages is whole.
    A folder whose record is a list of runs (the shipped model) holds that whole history itself.
    """
    runs: list[dict[str, Any]] = []
    current: Path | None = Path(folder)
    while current is not None and (current / SETTINGS_FILE).exists():
        training = read_model_info(current).extra.get("training")
        if isinstance(training, list):  # a shipped model carries its whole history (scripts/ship_default_model.py)
            return [run for run in training if isinstance(run, dict)] + runs
        if not isinstance(training, dict):
            break
        runs.insert(0, training)
        current = Path(training["base"]) if training.get("base") else None
    return runs


# ---------------------------------------------------------------------------- where a model is
def looks_like_hub_id(name: str) -> bool:
    """True for "owner/name" that names no local path, and whose first part is no local folder.

    A mistyped local path such as models/typo (where ./models exists) is a missing folder, not a
    Hub model: it must get "does not exist", not a download attempt.
    """
    if name.count("/") != 1 or name.startswith((".", "/", "~")) or name.endswith("/"):
        return False
    owner = name.split("/", 1)[0]
    return not Path(name).exists() and not Path(owner).is_dir()


def has_torch_weights(folder: str | os.PathLike[str]) -> bool:
    return any((Path(folder) / name).exists() for name in WEIGHT_FILES)


def resolve_model_path(path: str | os.PathLike[str] | None) -> str:
    """The torch model folder to load: `path` checked, or the default model shipped inside the package."""
    if path is None:
        if not (DEFAULT_MODEL_DIR / "config.json").exists():
            raise ModelFolderError(
                "no default model is installed with this copy of spanqa: pass --model PATH (a question-answering "
                "folder), or train one with `spanqa train --base PATH --train DATA.json --out MODEL_DIR`"
            )
        return str(DEFAULT_MODEL_DIR)
    name = str(path)
    if looks_like_hub_id(name):
        return name  # a Hugging Face Hub id, for users who are online
    folder = check_local_folder(path)
    if not (folder / "config.json").exists():
        raise ModelFolderError(f"model folder {folder} has no config.json: it is not a Hugging Face model folder")
    check_json_object(folder / "config.json")
    if not has_torch_weights(folder):
        raise ModelFolderError(f"model folder {folder} has no weights ({' or '.join(WEIGHT_FILES[::2])})")
    return str(folder)


def check_json_object(path: Path) -> None:
    """A ModelFolderError naming `path` unless it holds a JSON object (transformers' own error names no fix)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFolderError(
            f"{path} is not valid JSON ({error}): copy it again from the model you trained or downloaded"
        ) from error
    if not isinstance(payload, dict):
        raise ModelFolderError(
            f"{path} should hold a JSON object: copy it again from the model you trained or downloaded"
        )


def check_local_folder(path: str | os.PathLike[str]) -> Path:
    """`path` as an existing, readable folder, or a ModelFolderError that says what is wrong."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ModelFolderError(f"model folder {folder} does not exist: check the path (--model)")
    if not folder.is_dir():
        raise ModelFolderError(f"model path {folder} is a file; pass the folder that holds config.json")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ModelFolderError(f"model folder {folder} is not readable: check its permissions")
    return folder


def local_folder(path: str | os.PathLike[str] | None) -> Path | None:
    """The local folder `path` names (None for a Hub id); the default model folder for None."""
    if path is None:
        return Path(resolve_model_path(None))
    folder = Path(path).expanduser()
    return folder if folder.is_dir() else None


# ---------------------------------------------------------------------------- which back-end runs it
def onnx_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """{precision: path} of the ONNX models in `folder` (empty when there are none)."""
    found = {}
    for precision, name in ONNX_FILES.items():
        path = Path(folder) / name
        if path.is_file():
            found[precision] = path
    return found


def openvino_files(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """{precision: .xml path} of the OpenVINO models in `folder` whose .bin is there too (empty when none)."""
    found = {}
    for precision, name in OPENVINO_FILES.items():
        path = Path(folder) / name
        if path.is_file() and path.with_suffix(".bin").is_file():
            found[precision] = path
    return found


def openvino_installed() -> bool:
    """Whether the openvino package can be imported (looked up, not imported: milliseconds)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def export_hint(folder: str | os.PathLike[str] | None) -> str:
    source = folder if folder is not None else "MODEL_DIR"
    return f"create one with `spanqa export {source} --onnx OUT_DIR` (add --int8 for the int8 model)"


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return False


def resolve_backend(
    path: str | os.PathLike[str] | None, backend: str = "auto", precision: str = "auto"
) -> tuple[str, str]:
    """The (backend, precision) to load `path` with; "auto" picks the fastest accurate choice.

    - A folder with OpenVINO files runs on openvino when the openvino package is installed
      (precision "auto": int8 when the folder has it, else fp32); without the package, or without
      such files, the ONNX and torch rules below apply.
    - An ONNX folder (ONNX files, no torch weights) runs on onnx; precision "auto" takes int8
      when the folder has it, else fp32.
    - A torch folder runs on torch; precision "auto" takes bf16 when the CPU multiplies bf16
      natively, else fp32. A torch folder that also carries ONNX files runs them with "auto".
    - Explicit choices are checked: torch runs fp32/bf16, onnx and openvino run fp32/int8.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend == "torch" and precision == "int8":
        raise ConfigError("the torch backend runs fp32 or bf16, not 'int8': int8 needs --backend onnx or openvino")
    if backend in ("onnx", "openvino") and precision == "bf16":
        raise ConfigError(f"the {backend} backend runs fp32 or int8, not 'bf16': bf16 needs --backend torch")
    folder = local_folder(path)
    available = onnx_files(folder) if folder is not None else {}
    openvino = openvino_files(folder) if folder is not None else {}
    if backend == "auto" and _auto_runs_openvino(folder, precision, available, openvino):
        backend = "openvino"
    if backend == "auto":
        if precision == "int8":
            backend = "onnx"
        elif precision == "bf16" or not available:
            backend = "torch"
        elif precision == "fp32":
            backend = "onnx" if "fp32" in available or not has_torch_weights(folder) else "torch"
        else:
            backend = "onnx"
    if precision == "auto":
        if backend == "openvino":
            precision = next((p for p in AUTO_OPENVINO_ORDER if p in openvino), "int8")
        elif backend == "onnx":
            precision = next((p for p in AUTO_ONNX_ORDER if p in available), "fp32")
        else:
            precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    if backend == "torch" and folder is not None and (available or openvino) and not has_torch_weights(folder):
        kind, flag = ("ONNX", "onnx") if available else ("OpenVINO", "openvino")
        raise ModelFolderError(
            f"{folder} is an {kind} model folder without torch weights: load it with backend '{flag}' "
            f"(--backend {flag}) or 'auto'"
        )
    return backend, precision


def _auto_runs_openvino(folder, precision: str, onnx: dict[str, Path], openvino: dict[str, Path]) -> bool:
    """Whether backend "auto" runs the folder's OpenVINO files: when openvino is installed and they hold the
    precision asked for, or when nothing else in the folder can run (then a missing package is the error)."""
    if not openvino or precision == "bf16":
        return False
    nothing_else = not (onnx or has_torch_weights(folder))
    return nothing_else or (openvino_installed() and (precision == "auto" or precision in openvino))


@dataclass(frozen=True)
class ExportedFormat:
    """What differs between the exported formats a folder can hold (ONNX, OpenVINO IR) when one is chosen to run."""

    name: str  # as users read it: "ONNX"
    backend: str  # as they type it: "onnx"
    files: dict[str, str]  # precision -> file name
    find: Callable[[str | os.PathLike[str]], dict[str, Path]]  # the files a folder holds
    auto_order: tuple[str, ...]
    listing: str  # the files, as "holds no ... model (LISTING)" names them
    export_flags: str  # the `spanqa export` flags that write the format
    int8_flags: str  # and those that make it int8


ONNX_FORMAT = ExportedFormat(
    "ONNX", "onnx", ONNX_FILES, onnx_files, AUTO_ONNX_ORDER, " or ".join(ONNX_FILES.values()), "--onnx", " --int8"
)
OPENVINO_FORMAT = ExportedFormat(
    "OpenVINO",
    "openvino",
    OPENVINO_FILES,
    openvino_files,
    AUTO_OPENVINO_ORDER,
    " or ".join(f"{name} + .bin" for name in OPENVINO_FILES.values()),
    "--openvino",
    " --int8 --calibration TRAIN.json",
)


def onnx_model_file(path: str | os.PathLike[str] | None, precision: str = "auto") -> tuple[Path, str, Path]:
    """(folder, precision, ONNX file) to run for `path`; "auto" takes the fastest file the folder holds."""
    return exported_model_file(ONNX_FORMAT, path, precision, no_model_hint=export_hint(path))


def openvino_model_file(path: str | os.PathLike[str] | None, precision: str = "auto") -> tuple[Path, str, Path]:
    """(folder, precision, OpenVINO .xml file) to run for `path`; "auto" takes the fastest file the folder holds."""
    hint = "create one with `spanqa export SOURCE_MODEL_DIR --openvino OUT_DIR --int8 --calibration TRAIN.json`"
    return exported_model_file(OPENVINO_FORMAT, path, precision, no_model_hint=hint)


def exported_model_file(
    kind: ExportedFormat, path: str | os.PathLike[str] | None, precision: str, no_model_hint: str
) -> tuple[Path, str, Path]:
    """(folder, precision, file of format `kind`) to run for `path`, or an error that says what to export."""
    folder = local_folder(path)
    if folder is None:
        source = Path(str(path)).expanduser()
        if not source.exists():
            raise ModelFolderError(f"model folder {source} does not exist: check the path (--model)")
        main_file = next(iter(kind.files.values()))
        raise ModelFolderError(f"model path {source} is a file; pass the folder that holds {main_file}")
    if precision == "bf16":
        raise ConfigError(f"the {kind.backend} backend runs fp32 or int8, not 'bf16': bf16 needs --backend torch")
    if precision not in ("auto", *kind.files):
        raise InputError(f"precision must be fp32 or int8 for the {kind.backend} backend, got {precision!r}")
    available = kind.find(folder)
    if not available:
        raise ModelFolderError(f"{folder} holds no {kind.name} model ({kind.listing}): {no_model_hint}")
    if precision == "auto":
        precision = next(p for p in kind.auto_order if p in available)
    if precision not in available:
        flag = kind.int8_flags if precision == "int8" else ""
        raise ModelFolderError(
            f"{folder} has no {precision} {kind.name} model ({kind.files[precision]}; it holds "
            f"{', '.join(sorted(available))}): export one with `spanqa export SOURCE_MODEL_DIR {kind.export_flags} "
            f"OUT_DIR{flag}`, or pass --precision {next(iter(available))}"
        )
    return folder, precision, available[precision]


# ---------------------------------------------------------------------------- fingerprints
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
