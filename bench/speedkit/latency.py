"""Single-question latency of `Reader.ask`, and the start-up time of `python -m spanqa ask`."""

from __future__ import annotations

import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spanqa.types import Example

from . import REPO

LATENCY_TOKENS = 150


def latency_example(examples: Sequence[Example], tokenizer, target: int = LATENCY_TOKENS) -> tuple[str, str, int]:
    """(question, context, tokens) of the question whose single window is closest to `target` tokens."""
    best = None
    for example in examples[:500]:
        tokens = len(tokenizer(example.question, example.context)["input_ids"])
        if best is None or abs(tokens - target) < abs(best[2] - target):
            best = (example.question, example.context, tokens)
    assert best is not None
    return best


def latency(reader, question: str, context: str, runs: int) -> dict[str, float]:
    """p50 and p99 milliseconds of `reader.ask(question, context)` over `runs` runs, after 3 warm-up runs."""
    for _ in range(3):
        reader.ask(question, context)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        reader.ask(question, context)
        times.append((time.perf_counter() - began) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)), "runs": runs}


def startup_time(model: Path, backend: str, precision: str, question: str, context: str, runs: int) -> float:
    """Median wall seconds of `python -m spanqa ask` (import, load, one answer) as a subprocess."""
    command = [sys.executable, "-m", "spanqa", "ask", "-q", question, "-c", context, "--model", str(model)]
    command += ["--backend", backend, "--precision", precision, "--json"]
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise RuntimeError(f"`{shlex.join(command)}` failed: {done.stderr.strip()[-500:]}")
    return statistics.median(times)
