"""Training checkpoints: written atomically, the last K kept, exact resume.

A checkpoint is a folder `step-000123/` holding `state.pt` (model, optimiser, scheduler,
step, data position, config), one `rng-rank{r}.pt` per process and a COMPLETE marker. The
folder is built under a temporary name and renamed when complete (`staged_folder`), so a
crash never leaves half of one; `latest_checkpoint` also ignores any folder without the marker,
and `load_latest_readable` falls back past a checkpoint whose files were truncated afterwards.
"""

from __future__ import annotations

import pickle
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spanqa.errors import DataFileError
from spanqa.fileio import staged_folder
from spanqa.training.config import TrainConfig

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
    final = directory / f"step-{step:09d}"
    with staged_folder(final) as staging:
        torch.save(state, staging / "state.pt")
        for rank, rng in enumerate(rng_states):
            torch.save(rng, staging / f"rng-rank{rank}.pt")
        (staging / COMPLETE_MARKER).write_text(str(step))
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


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint folder (step-NNNNNNNNN) was saved at."""
    match = CHECKPOINT_PATTERN.match(path.name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint folder (step-NNNNNNNNN)")
    return int(match.group(1))


def prune_checkpoints(
    directory: Path, keep_last: int, protect: Path | None = None, keep_every: int | None = None
) -> None:
    """Delete all but the last `keep_last` checkpoints, and those of every `keep_every`-th step."""
    for path in list_checkpoints(directory)[:-keep_last] if keep_last > 0 else []:
        if keep_every and checkpoint_step(path) % keep_every == 0:
            continue
        if protect is None or path.resolve() != protect.resolve():
            shutil.rmtree(path, ignore_errors=True)


STATE_KEYS = ("model", "optimizer", "schedule", "step", "epoch", "micro", "config")


def _read(path: Path, rank: int) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """(state, this process's RNG state) of one checkpoint, or what is wrong with it."""
    try:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
        rng = torch.load(path / f"rng-rank{rank}.pt", map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return f"checkpoint {path} is truncated or unreadable ({reason})"
    missing = [key for key in STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        return f"checkpoint {path} is incomplete (its state.pt lacks {', '.join(missing)})"
    return state, rng


def load_checkpoint(path: Path, rank: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, this process's RNG state) of one checkpoint; a DataFileError when it is truncated or incomplete."""
    read = _read(path, rank)
    if isinstance(read, str):
        raise DataFileError(f"{read}: delete it to resume from an earlier one")
    return read


@dataclass(frozen=True)
class Resumed:
    path: Path
    state: dict[str, Any]
    rng: dict[str, Any]


def load_latest_readable(directory: Path, rank: int, say: Callable[[str], None]) -> Resumed | None:
    """The newest checkpoint of `directory` that loads whole (None when there is none at all).

    A checkpoint is written under a temporary name and renamed when complete, but a disk that fills
    up, a copy cut short or a bad sector can still leave one truncated: `say` tells which was
    skipped and training resumes from the one before it. When none can be read the run stops:
    starting from the beginning without being asked would quietly throw the work away.
    """
    checkpoints = list_checkpoints(directory)
    problems = []
    for path in reversed(checkpoints):
        read = _read(path, rank)
        if isinstance(read, str):
            problems.append(read)
            say(f"warning: {read}; falling back to the previous checkpoint")
            continue
        return Resumed(path, *read)
    if checkpoints:
        raise DataFileError(
            f"no checkpoint in {directory} can be read ({problems[-1]}): delete {directory} to train from the beginning"
        )
    return None


@dataclass
class Position:
    """How far a run has got: with the weights, what resuming it exactly needs."""

    step: int = 0
    epoch: int = 0
    micro: int = 0  # micro-batches of `epoch` already trained on
    best_f1: float | None = None

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Position:
        return cls(state["step"], state["epoch"], state["micro"], state.get("best_f1"))


class Checkpointer:
    """Saves the whole run at a position: every process calls `save`, the main process writes."""

    def __init__(
        self, accelerator, model, optimizer, schedule, directory: Path, config: TrainConfig, last_saved_step: int | None
    ) -> None:
        self.accelerator = accelerator
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.directory = directory
        self.config = config
        self.last_saved_step = last_saved_step

    def save(self, position: Position) -> Path | None:
        """The checkpoint of `position` (None on the other processes), pruned to the last `keep_last`."""
        if self.last_saved_step == position.step:  # this exact state is already on disk
            return latest_checkpoint(self.directory)
        self.last_saved_step = position.step
        self.accelerator.wait_for_everyone()
        rngs = self._rng_states_of_every_process()
        saved = None
        if self.accelerator.is_main_process:
            saved = save_checkpoint(self.directory, position.step, self._state(position), rngs)
            prune_checkpoints(self.directory, self.config.keep_last, keep_every=self.config.keep_every)
        self.accelerator.wait_for_everyone()
        return saved

    def _rng_states_of_every_process(self) -> list[dict[str, Any]]:
        if self.accelerator.num_processes == 1:
            return [rng_state()]
        return self.accelerator.gather_for_metrics([rng_state()], use_gather_object=True)

    def _state(self, position: Position) -> dict[str, Any]:
        return {
            "model": self.accelerator.unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "step": position.step,
            "epoch": position.epoch,
            "micro": position.micro,
            "best_f1": position.best_f1,
            "config": self.config.to_dict(),
        }
