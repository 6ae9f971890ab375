"""What a training run records: metrics to JSONL and TensorBoard, and the progress bar."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from spanqa.training.config import TrainConfig


class RunLog:
    """Metrics to a JSONL file and TensorBoard (main process only)."""

    def __init__(self, logdir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.writer = None
        if enabled:
            logdir.mkdir(parents=True, exist_ok=True)
            self.jsonl = logdir / "train_log.jsonl"
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(logdir))

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.jsonl, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class StepLog:
    """Loss, learning rate and speed every `log_every` steps, to the run log and the progress bar.

    Every process must report its steps: the logged loss is the mean over processes.
    """

    def __init__(self, run_log: RunLog, accelerator, schedule, config: TrainConfig, total_steps: int, step: int):
        self.run_log = run_log
        self.accelerator = accelerator
        self.schedule = schedule
        self.log_every = config.log_every
        self.total_steps = total_steps
        self.bar = None
        if accelerator.is_main_process and config.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=step, unit="step", desc="training", dynamic_ncols=True)
        self._start_interval()

    def _start_interval(self) -> None:
        self.windows, self.loss, self.steps, self.clock = 0, 0.0, 0, time.perf_counter()

    def micro_step_done(self, loss: float, windows: int) -> None:
        self.loss += loss
        self.windows += windows

    def step_done(self, step: int, epoch: float) -> None:
        """`epoch` counts epochs done, fractions included."""
        self.steps += 1
        if self.bar is not None:
            self.bar.update(1)
        if step % self.log_every == 0 or step == self.total_steps:
            self._write(step, epoch)

    def _write(self, step: int, epoch: float) -> None:
        elapsed = time.perf_counter() - self.clock
        mean_loss = mean_across_processes(self.accelerator, self.loss / self.steps)
        values = {
            "loss": mean_loss,
            "lr": self.schedule.get_last_lr()[0],
            "examples_per_s": self.windows / elapsed if elapsed > 0 else 0.0,
            "epoch": epoch,
        }
        self.run_log.write(step, values)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{mean_loss:.3f}", ex_s=f"{values['examples_per_s']:.1f}")
        self._start_interval()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def mean_across_processes(accelerator, value: float) -> float:
    if accelerator.num_processes == 1:
        return value
    tensor = torch.tensor([value], device=accelerator.device)
    return float(accelerator.reduce(tensor, reduction="mean").item())
