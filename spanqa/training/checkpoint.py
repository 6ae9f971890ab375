"""Training checkpoints: written atomically, the last K kept, exact resume.

A checkpoint is a folder `step-000123/` holding `state.pt` (model, optimiser, scheduler,
step, data position, config) and one `rng-rank{r}.pt` per process. The folder is built
under a temporary name and renamed when complete, so a crash never leaves half of one;
`latest_checkpoint` ignores anything that is not complete.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spanqa.errors import DataFileError

CHECKPOINT_PATTERN = re.compile(r"^step-(\d+)$")
COMPLETE_MARKER = "COMPLETE"


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: Path, step: int, state: dict[str, Any], rng_states: list[dict[str, Any]]) -> Path:
    """Write checkpoint `step` under `directory` atomically and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:09d}"
    staging = Path(tempfile.mkdtemp(prefix=f".step-{step:09d}.", dir=directory))
    try:
        torch.save(state, staging / "state.pt")
        for rank, rng in enumerate(rng_states):
            torch.save(rng, staging / f"rng-rank{rank}.pt")
        (staging / COMPLETE_MARKER).write_text(str(step))
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    if not directory.exists():
        return []
    found = []
    for path in directory.iterdir():
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and (path / COMPLETE_MARKER).exists():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(directory: Path) -> Path | None:
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def prune_checkpoints(directory: Path, keep_last: int, protect: Path | None = None) -> None:
    for path in list_checkpoints(directory)[:-keep_last] if keep_last > 0 else []:
        if protect is None or path.resolve() != protect.resolve():
            shutil.rmtree(path, ignore_errors=True)


def load_checkpoint(path: Path, rank: int) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
        rng = torch.load(path / f"rng-rank{rank}.pt", map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as error:
        raise DataFileError(
            f"checkpoint {path} cannot be read ({error}): delete it to resume from an earlier one"
        ) from error
    return state, rng
