"""Export a model folder to an OpenVINO model folder (fp32, or NNCF int8), checked against torch.

    export_openvino("models/minilm-squad", "models/minilm-squad-ov", int8=True, calibration=["train.json"])

The folder holds `model.openvino.xml` + `.bin` (int8) or `model.openvino-fp32.xml` + `.bin`, the
tokenizer files, config.json and spanqa.json (with `backend: "openvino"` and `precision`), so
`Reader.load(folder)` runs it on OpenVINO without being told. Steps, each checked:

1. torch.onnx.export, as for the ONNX folder (onnx_export), without ONNX Runtime's fusions (OpenVINO
   fuses the plain graph itself); openvino.convert_model reads that ONNX file.
2. The fp32 OpenVINO logits are compared with torch's on real windows; over `tolerance`, nothing is written.
3. With int8: NNCF post-training quantisation (static: one scale per activation, fixed by calibration;
   per-channel weights; SmoothQuant and bias correction, NNCF's transformer preset) on windows of
   TRAINING questions, cut with the model's own max_seq_len/doc_stride. The span head stays fp32.
   Calibration data must not be the data you evaluate on: a dev set would flatter the int8 model.

The calibration questions are `calibration` (SQuAD JSON files) or, when none are given, the training
files the folder's spanqa.json records (the data the model was trained on, where they still exist).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spanqa.errors import InputError, ModelFolderError
from spanqa.fileio import staged_folder
from spanqa.inference.runtime.base import exported_model_feed
from spanqa.inference.runtime.onnx_export import (
    KEEP_FP32,
    argmax_agreement,
    check_batch,
    check_destination,
    logits_max_abs_diff,
    quiet,
    torch_export,
    torch_logits,
    use_eager_attention,
)
from spanqa.model.folder import (
    OPENVINO_FILES,
    SETTINGS_FILE,
    model_info_payload,
    model_task,
    training_runs,
    weights_fingerprint,
)

# NNCF's default subset size: enough windows to fix every activation's range, about 30 s for MiniLM-L6.
CALIBRATION_WINDOWS = 300
CALIBRATION_SEED = 0


@dataclass(frozen=True)
class OpenVinoExportResult:
    folder: Path
    model_file: str  # the .xml file name inside `folder` (its weights: the .bin of the same stem)
    precision: str  # fp32 or int8
    max_abs_diff: float  # fp32 OpenVINO vs torch logits, on real tokens
    int8_max_abs_diff: float | None  # int8 OpenVINO vs torch logits (int8 only)
    int8_argmax_agreement: float | None  # share of check windows whose best start and end agree with torch's
    calibration_files: tuple[str, ...]
    calibration_windows: int
    size_bytes: int  # .xml + .bin
    seconds: float


def export_openvino(
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    int8: bool = True,
    calibration: Sequence[str | os.PathLike[str]] | None = None,
    calibration_windows: int = CALIBRATION_WINDOWS,
    overwrite: bool = False,
    tolerance: float = 1e-3,
) -> OpenVinoExportResult:
    """Write an OpenVINO model folder for `model_dir` to `out_dir` (see the module docstring)."""
    from spanqa.inference.runtime.openvino import import_openvino

    ov = import_openvino()
    began = time.perf_counter()
    source = Path(model_dir)
    destination = check_destination(source, Path(out_dir).expanduser(), overwrite, flag="--openvino")
    if model_task(source) == "classify":
        raise InputError(
            f"{source} is a text classifier: the openvino export takes question-answering models; use --onnx"
        )
    if isinstance(calibration_windows, bool) or not isinstance(calibration_windows, int) or calibration_windows < 1:
        raise InputError(f"calibration windows must be a positive integer, got {calibration_windows!r}")
    calibration_files = calibration_sources(source, calibration) if int8 else ()
    from spanqa.model.torch_io import load_model

    loaded = load_model(source)
    with staged_folder(destination) as staging:
        batch = check_batch(loaded.tokenizer)
        with quiet():
            expected = torch_logits(loaded.model, batch)
        onnx_path = staging / "model.plain.onnx"
        use_eager_attention(loaded.model)
        torch_export(loaded.model, batch, onnx_path)
        with quiet():
            model = ov.convert_model(str(onnx_path))
        onnx_path.unlink()
        max_abs_diff = logits_max_abs_diff(_openvino_logits(ov, model, batch), expected, batch)
        if not max_abs_diff <= tolerance:
            raise ModelFolderError(
                f"the OpenVINO conversion of {source} differs from torch by {max_abs_diff:.3g} (over {tolerance:g}): "
                "use --onnx or --backend torch"
            )
        int8_diff = agreement = None
        windows = 0
        precision = "int8" if int8 else "fp32"
        if int8:
            settings = loaded.info.settings
            samples = calibration_batches(loaded.tokenizer, settings, calibration_files, calibration_windows)
            windows = len(samples)
            model = _quantize(model, samples)
            quantized = _openvino_logits(ov, model, batch)
            int8_diff = logits_max_abs_diff(quantized, expected, batch)
            agreement = argmax_agreement(quantized, expected, batch)
        model_file = OPENVINO_FILES[precision]
        ov.save_model(model, str(staging / model_file), compress_to_fp16=False)
        record = {
            "source": str(source),
            "source_weights_sha256": weights_fingerprint(source),
            "file": model_file,
            "openvino": ov.__version__,
            "fp32_max_abs_diff_vs_torch": max_abs_diff,
            "int8_quantization": _quantization_record(calibration_files, windows) if int8 else None,
        }
        _write_folder_files(loaded, staging, precision, record)
        size = sum((staging / model_file).with_suffix(suffix).stat().st_size for suffix in (".xml", ".bin"))
    return OpenVinoExportResult(
        folder=destination,
        model_file=model_file,
        precision=precision,
        max_abs_diff=max_abs_diff,
        int8_max_abs_diff=int8_diff,
        int8_argmax_agreement=agreement,
        calibration_files=tuple(str(path) for path in calibration_files),
        calibration_windows=windows,
        size_bytes=size,
        seconds=time.perf_counter() - began,
    )


def calibration_sources(model_dir: Path, calibration: Sequence[str | os.PathLike[str]] | None) -> tuple[Path, ...]:
    """The calibration files: those given (each must exist), else the training files spanqa.json records."""
    if calibration:
        paths = tuple(Path(path).expanduser() for path in calibration)
        for path in paths:
            if not path.is_file():
                raise InputError(
                    f"calibration file {path} does not exist: give a SQuAD JSON file of training questions"
                )
        return paths
    recorded = [Path(name) for run in training_runs(model_dir)[-1:] for name in run.get("train_files") or []]
    found = tuple(path for path in recorded if path.is_file())
    if not found:
        raise InputError(
            "int8 needs calibration questions: pass --calibration TRAIN.json (a SQuAD JSON file of training "
            f"questions, never the set you evaluate on); {model_dir} records no training file that exists here"
        )
    return found


def calibration_batches(tokenizer, settings, files: Sequence[Path], limit: int) -> list[dict[str, np.ndarray]]:
    """Up to `limit` one-window batches from randomly chosen questions of `files` (fixed seed)."""
    from spanqa.data.squad import load_squad
    from spanqa.inference.features import encode_windows, pad_windows
    from spanqa.inference.pipeline import pad_token_id

    examples = [example for path in files for example in load_squad(path)]
    if not examples:
        raise InputError(f"the calibration file(s) {', '.join(map(str, files))} hold no questions")
    random.Random(CALIBRATION_SEED).shuffle(examples)
    chosen = examples[:limit]  # every question gives at least one window
    windows = encode_windows(tokenizer, [e.question for e in chosen], [e.context for e in chosen], settings)[:limit]
    # One window per batch, unpadded: calibration sees the activations of real tokens only.
    return [pad_windows([window], pad_token_id(tokenizer)) for window in windows]


def _quantize(model, samples: list[dict[str, np.ndarray]]):
    import nncf

    names = [port.get_any_name() for port in model.inputs]

    def feed(sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return exported_model_feed(sample, names, "OpenVINO")

    kept = nncf.IgnoredScope(patterns=[f".*{fragment}.*" for fragment in KEEP_FP32], validate=False)
    with quiet():
        return nncf.quantize(
            model,
            nncf.Dataset(samples, feed),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(samples),
            ignored_scope=kept,
        )


def _quantization_record(files: Sequence[Path], windows: int) -> dict:
    import nncf

    return {
        "method": "nncf.quantize (static, ModelType.TRANSFORMER)",
        "nncf": nncf.__version__,
        "calibration_files": [str(path) for path in files],
        "calibration_windows": windows,
        "calibration_seed": CALIBRATION_SEED,
        "kept_fp32": list(KEEP_FP32),
    }


def _openvino_logits(ov, model, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1})
    names = [port.get_any_name() for port in compiled.inputs]
    results = compiled({name: batch[name] for name in names if name in batch})
    return tuple(np.array(results[port], dtype=np.float32) for port in compiled.outputs)


def _write_folder_files(loaded, staging: Path, precision: str, record: dict) -> None:
    loaded.tokenizer.save_pretrained(staging)
    loaded.model.config.to_json_file(str(staging / "config.json"))
    extra = {**loaded.info.extra, "backend": "openvino", "precision": precision, "openvino_export": record}
    payload = model_info_payload(loaded.info.replace(extra=extra))
    # Plain writes: the whole staging folder is renamed into place at the end.
    (staging / SETTINGS_FILE).write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
