"""Every measurement of one back-end: batch-size tuning, throughput, stages, FLOPs, accuracy, latency, start-up."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spanqa.inference.reader import Reader
from spanqa.types import Example

from .data import score
from .exports import export_for
from .flops import window_gflop
from .latency import latency, startup_time
from .peaks import peak_of
from .stages import answers_to_all, timed_predict

BACKENDS = {
    "torch-fp32": ("torch", "fp32"),
    "torch-bf16": ("torch", "bf16"),
    "onnx-fp32": ("onnx", "fp32"),
    "onnx-int8": ("onnx", "int8"),
    # OpenVINO (pip install 'spanqa[openvino]'): NNCF int8 calibrated on the model's own training files
    # (those its spanqa.json records), and the plain fp32 IR.
    "openvino-int8": ("openvino", "int8"),
    "openvino-fp32": ("openvino", "fp32"),
}


@dataclass
class BackendResult:
    name: str
    backend: str
    precision: str
    batch_size: int = 0
    tuning: dict[str, float] = field(default_factory=dict)
    questions: int = 0
    seconds: float = 0.0
    questions_per_second: float = 0.0
    exact: float | None = None
    f1: float | None = None
    stages: dict[str, float] = field(default_factory=dict)  # seconds of the timed predict run
    windows: int = 0
    tokens: int = 0
    gflop: float = 0.0  # model FLOPs of the run's windows (real tokens only), in GFLOP
    achieved_gflops: float = 0.0  # gflop / forward seconds
    peak_share: float | None = None  # achieved / the measured matmul peak of this precision
    latency_ms: dict[str, float] = field(default_factory=dict)
    startup_s: float | None = None
    load_s: float = 0.0
    skipped: str | None = None


def openvino_export_for(model: Path, export_dir: Path, precision: str) -> Path:
    """The OpenVINO folder of `model` for `precision` under export_dir, reused when made from the same weights."""
    from spanqa.errors import SpanQAError
    from spanqa.inference.runtime.openvino_export import export_openvino
    from spanqa.model.folder import read_model_info, weights_fingerprint

    folder = export_dir / f"openvino-{precision}"
    try:
        record = read_model_info(folder).extra["openvino_export"]
        if record["source_weights_sha256"] == weights_fingerprint(model) and (folder / record["file"]).exists():
            return folder
    except (SpanQAError, KeyError, TypeError):
        pass
    result = export_openvino(model, folder, int8=precision == "int8", overwrite=True)
    calibrated = f", calibrated on {result.calibration_windows} windows" if result.calibration_windows else ""
    print(
        f"  exported openvino {precision}: {result.size_bytes / 2**20:.1f} MiB, fp32 max |diff| vs torch "
        f"{result.max_abs_diff:.2g}{calibrated}",
        flush=True,
    )
    return folder


def run_backend(
    name: str,
    model: Path,
    export_dir: Path,
    examples: list[Example],
    dataset: dict[str, Any],
    args: argparse.Namespace,
    peaks: dict[str, dict[str, Any]],
    config: dict[str, Any],
    lat_case: tuple[str, str, int],
) -> BackendResult:
    backend, precision = BACKENDS[name]
    result = BackendResult(name=name, backend=backend, precision=precision)
    if backend == "torch":
        folder = model
    elif backend == "openvino":
        folder = openvino_export_for(model, export_dir, precision)
    else:
        folder = export_for(model, export_dir, precision)
    began = time.perf_counter()
    reader = Reader.load(folder, backend=backend, precision=precision, threads=args.threads)
    result.load_s = time.perf_counter() - began
    tune = examples[: args.tune_limit]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    reader.predict(tune[:4], batch_size=batch_sizes[0])  # warm-up
    if len(batch_sizes) > 1:
        for batch_size in batch_sizes:
            result.tuning[str(batch_size)] = len(tune) / timed_predict(reader, tune, batch_size).seconds
        result.batch_size = int(max(result.tuning, key=result.tuning.get))
    else:
        result.batch_size = batch_sizes[0]
    timed = examples[: args.limit]
    run = timed_predict(reader, timed, result.batch_size)
    result.questions, result.seconds = len(timed), run.seconds
    result.questions_per_second = len(timed) / run.seconds
    result.stages = dict(run.stages)
    result.windows, result.tokens = len(run.window_lengths), int(sum(run.window_lengths))
    result.gflop = window_gflop(config, reader.info.head, run.window_lengths)
    result.achieved_gflops = result.gflop / max(run.stages["forward"], 1e-9)
    peak = peak_of(peaks, precision)
    result.peak_share = result.achieved_gflops / peak if peak else None
    result.exact, result.f1 = score(dataset, answers_to_all(reader, run, examples, result.batch_size))
    question, context, _ = lat_case
    result.latency_ms = latency(reader, question, context, args.latency_runs)
    if args.startup_runs > 0:
        result.startup_s = startup_time(folder, backend, precision, question, context, args.startup_runs)
    return result
