"""The baseline: transformers' QuestionAnsweringPipeline (bench/pipeline_baseline.py) in its own virtual environment.

The pipeline left transformers in 5.3, so it runs under transformers 4.57.6 in a venv under
~/.cache/spanqa-bench, built on first use (venv_python: the peer's venv is built the same way, with its pins).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from spanqa.settings import ReaderSettings
from spanqa.types import Example

from . import REPO
from .data import score

BASELINE_VENV = Path.home() / ".cache/spanqa-bench/pipeline-venv"
BASELINE_PINS = ("torch==2.13.0", "transformers==4.57.6")  # pin torch: unpinned, pip pulls the CUDA build


def installed_versions(python: Path, distributions: list[str]) -> list[str] | None:
    """The versions of `distributions` installed for `python` (no local part like +cpu), None if one is missing."""
    probe = subprocess.run(
        [str(python), "-c", "import sys, importlib.metadata as m; print(*(m.version(d) for d in sys.argv[1:]))",
         *distributions],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    versions = probe.stdout.split()
    if probe.returncode != 0 or len(versions) != len(distributions):
        return None
    return [version.split("+")[0] for version in versions]


def venv_python(venv: Path, pins: tuple[str, ...], purpose: str) -> Path:
    """The python of the venv `venv`, (re)built with exactly `pins` ("name==version") when they are not what it has.

    Pin torch in `pins`: unpinned, pip pulls the multi-GB CUDA build."""
    python = venv / "bin" / "python"
    names, versions = zip(*(pin.split("==") for pin in pins), strict=True)
    if python.exists() and installed_versions(python, list(names)) == list(versions):
        return python
    print(f"  building the {purpose} venv in {venv} ({', '.join(pins)}) ...", flush=True)
    began = time.perf_counter()
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *pins], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the {purpose} venv failed:\n{done.stderr[-3000:]}")
    print(f"  built in {time.perf_counter() - began:.0f} s", flush=True)
    return python


def baseline_python(venv: Path) -> Path:
    """The baseline venv's python, building the venv (pinned torch and transformers) when needed."""
    return venv_python(venv, BASELINE_PINS, "baseline")


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


def run_pipeline(
    python: Path,
    model: Path,
    examples: list[Example],
    dataset: dict[str, Any],
    settings: ReaderSettings,
    args: argparse.Namespace,
    work: Path,
    role: str = "baseline",
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """bench/pipeline_baseline.py's report on the same questions (its best batch size), with the EM and F1 of
    its answers: run by `python`, with the reader's settings and `extra` arguments; `role` names its files.
    Only the first args.limit questions are timed; all of `examples` are scored."""
    questions = [{"id": e.id, "question": e.question, "context": e.context} for e in examples]
    questions_path, out_path = work / f"{role}-questions.json", work / f"{role}-result.json"
    questions_path.write_text(json.dumps(questions), encoding="utf-8")
    arguments = [
        "--model", str(model), "--questions", str(questions_path), "--batch-sizes", args.baseline_batch_sizes,
        "--tune-limit", str(args.tune_limit), "--max-seq-len", str(settings.max_seq_len),
        "--doc-stride", str(settings.doc_stride), "--max-question-len", str(settings.max_question_len),
        "--max-answer-len", str(settings.max_answer_len), "--timed", str(args.limit), *extra,
    ]  # fmt: skip
    report = run_baseline_script(python, "pipeline_baseline.py", arguments, args.threads, out_path)
    report["exact"], report["f1"] = score(dataset, report.pop("predictions"))
    return report


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
    return run_pipeline(python, model, examples, dataset, settings, args, work)
