"""The peer a speed-seeking user would pick instead of spanqa: Optimum's ORTModelForQuestionAnswering.

It runs the same int8 ONNX file as the onnx-int8 back-end (the model folder's own, or the same export),
decoded by transformers' own QuestionAnsweringPipeline (bench/pipeline_baseline.py --onnx), in a venv
of its own under ~/.cache/spanqa-bench: the pipeline baseline's venv stays as it was, so its numbers
compare with earlier reports.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from pathlib import Path
from typing import Any

from spanqa.model.folder import onnx_files
from spanqa.settings import ReaderSettings
from spanqa.types import Example

from .baseline import BASELINE_PINS, run_pipeline, venv_python
from .exports import export_for

PEER_VENV = Path.home() / ".cache/spanqa-bench/optimum-venv"
PEERS = {"optimum-int8": "int8"}  # name: precision of the ONNX file it runs


def peer_pins() -> tuple[str, ...]:
    """The peer venv's pins: the baseline's torch and transformers (4.57.6: optimum-onnx 0.1.0 wants < 4.58),
    optimum-onnx with the optimum it requires (~= 2.1.0), and the onnxruntime and onnx spanqa runs here,
    so the two rows differ in what runs around ONNX Runtime, not in ONNX Runtime."""
    same_as_here = [f"{name}=={importlib.metadata.version(name)}" for name in ("onnxruntime", "onnx")]
    return (*BASELINE_PINS, "optimum==2.1.0", "optimum-onnx==0.1.0", *same_as_here)


def run_peer(
    name: str,
    model: Path,
    export_dir: Path,
    examples: list[Example],
    dataset: dict[str, Any],
    settings: ReaderSettings,
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any]:
    """The peer `name`'s report on the same questions, threads and batch sizes as the pipeline baseline."""
    precision = PEERS[name]
    folder = export_for(model, export_dir, precision)
    onnx_file = onnx_files(folder)[precision]
    python = venv_python(Path(args.peer_venv).expanduser(), peer_pins(), "Optimum peer")
    extra = ("--onnx", onnx_file.name)
    report = run_pipeline(python, folder, examples, dataset, settings, args, work, role="peer", extra=extra)
    return {"name": name, **report, "onnx_file": str(onnx_file)}  # the whole path, not just the name it was given
