"""The baseline: transformers' QuestionAnsweringPipeline (bench/pipeline_baseline.py) in its own virtual environment.

The pipeline left transformers in 5.3, so it runs under transformers 4.57.6 in a venv under
~/.cache/spanqa-bench, built on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from spanqa.settings import ReaderSettings
from spanqa.types import Example

from . import REPO
from .data import score

BASELINE_VENV = Path.home() / ".cache/spanqa-bench/pipeline-venv"
BASELINE_PINS = ("torch==2.13.0", "transformers==4.57.6")  # pin torch: unpinned, pip pulls the CUDA build


def baseline_python(venv: Path) -> Path:
    """The baseline venv's python, building the venv (pinned torch and transformers) when needed."""
    python = venv / "bin" / "python"
    wanted = {pin.split("==")[0]: pin.split("==")[1] for pin in BASELINE_PINS}
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import torch, transformers; print(torch.__version__, transformers.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
        versions = probe.stdout.split()
        if probe.returncode == 0 and len(versions) == 2:
            torch_version, transformers_version = versions
            if torch_version.split("+")[0] == wanted["torch"] and transformers_version == wanted["transformers"]:
                return python
    print(f"  building the baseline venv in {venv} ({', '.join(BASELINE_PINS)}) ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *BASELINE_PINS], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the baseline venv failed:\n{done.stderr[-3000:]}")
    return python


def run_baseline_script(python: Path, script: str, arguments: list[str], threads: int | None, out: Path) -> dict:
    """Run bench/`script` in the baseline venv (offline, `--threads` passed on) and read the JSON it wrote to `out`."""
    command = [str(python), str(REPO / "bench" / script), *arguments, "--out", str(out)]
    if threads is not None:
        command += ["--threads", str(threads)]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"the baseline {script} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def run_baseline(
    model: Path,
    examples: list[Example],
    dataset: dict[str, Any],
    settings: ReaderSettings,
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any]:
    """The pipeline's report on the same questions (its best batch size), with the EM and F1 of its answers."""
    python = baseline_python(Path(args.baseline_venv).expanduser())
    questions = [{"id": e.id, "question": e.question, "context": e.context} for e in examples]
    questions_path, out_path = work / "baseline-questions.json", work / "baseline-result.json"
    questions_path.write_text(json.dumps(questions), encoding="utf-8")
    arguments = [
        "--model", str(model), "--questions", str(questions_path), "--batch-sizes", args.baseline_batch_sizes,
        "--tune-limit", str(args.tune_limit), "--max-seq-len", str(settings.max_seq_len),
        "--doc-stride", str(settings.doc_stride), "--max-question-len", str(settings.max_question_len),
        "--max-answer-len", str(settings.max_answer_len),
    ]  # fmt: skip
    report = run_baseline_script(python, "pipeline_baseline.py", arguments, args.threads, out_path)
    report["exact"], report["f1"] = score(dataset, report.pop("predictions"))
    return report
