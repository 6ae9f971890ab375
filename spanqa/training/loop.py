"""The training loop, readable top to bottom.

    prepare windows -> length-grouped global batches -> (each process takes its slice)
    -> forward / loss / backward (grad accumulation) -> optimiser + schedule step
    -> log, checkpoint, evaluate -> final model folder

Runs under accelerate, so `torchrun --nproc_per_node N -m spanqa train ...` or
`accelerate launch -m spanqa train ...` spreads it over processes, GPUs or machines with
no code change. Resume is exact: the checkpoint holds weights, optimiser, schedule, every
process's RNG state and the position in the epoch's batch order, which is a pure
function of (seed, epoch).
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spanqa.errors import ConfigError, DataFileError
from spanqa.heap import release_free_heap
from spanqa.inference.features import pad_windows
from spanqa.inference.pipeline import pad_token_id
from spanqa.model.folder import ModelInfo
from spanqa.model.heads import span_loss
from spanqa.model.torch_io import load_model, save_model
from spanqa.settings import ReaderSettings
from spanqa.training.checkpoint import Checkpointer, Position, latest_checkpoint, load_latest_readable, set_rng_state
from spanqa.training.classify_task import ClassificationTask
from spanqa.training.config import TrainConfig
from spanqa.training.data import PreparationSummary, TrainingWindow, prepare_training_windows, training_questions
from spanqa.training.evaluate import TrainingEvaluation
from spanqa.training.logs import RunLog, StepLog

BATCHES_PER_LENGTH_GROUP = 50
Say = Callable[[str], None]


def epoch_batches(lengths: np.ndarray, global_batch: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's batch order: shuffled, then sorted by length inside groups of 50 batches.

    Only full batches are kept, so every process always gets the same number of windows.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    group = global_batch * BATCHES_PER_LENGTH_GROUP
    batches = []
    for begin in range(0, len(order), group):
        part = order[begin : begin + group]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i : i + global_batch] for i in range(0, len(part) - global_batch + 1, global_batch))
    return [batches[i] for i in rng.permutation(len(batches))]


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(groups, lr=config.lr, scale_parameter=False, relative_step=False, warmup_init=False)
    return torch.optim.AdamW(groups, lr=config.lr)


def build_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float):
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it after each step, saves and exits."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def train(config: TrainConfig, resume: bool = False, echo: Say = print) -> dict[str, Any]:
    """Fine-tune `config.base` on `config.train_files`; returns a summary of the run."""
    from accelerate.utils import set_seed

    accelerator = _start_accelerator(config)
    main = accelerator.is_main_process
    say = echo if main else _say_nothing
    folders = RunFolders.of(config)
    _check_resume(folders.checkpoints, resume, say)
    checkpoint, state, rng = _read_checkpoint(
        folders.checkpoints if resume else None, accelerator.process_index, config, say
    )

    set_seed(config.seed)
    # --task classify swaps in its model, data, loss, evaluation and saved folder; the loop is the same.
    classify = ClassificationTask(config, say) if config.task == "classify" else None
    if classify is not None:
        loaded = classify.load()
        data = classify.prepare(loaded.tokenizer)
    else:
        loaded = load_model(config.base, head=config.head, for_training=True)
        settings = config.reader_settings()
        data = _prepare_data(config, loaded.tokenizer, settings, say)
    global_batch = config.batch_size * accelerator.num_processes
    total_steps = steps_in_run(config, data.lengths, global_batch)

    optimizer = build_optimizer(loaded.model, config)
    schedule = build_schedule(optimizer, total_steps, config.warmup_ratio)
    position = _restore(state, loaded.model, optimizer, schedule)
    if state is not None:
        say(f"resumed from {checkpoint} (step {position.step:,} of {total_steps:,})")
    model, optimizer = accelerator.prepare(loaded.model, optimizer)
    if rng is not None:
        set_rng_state(rng)

    training = {"training": config.to_dict()}
    info = classify.info() if classify else ModelInfo(head=config.head, settings=settings, extra=training)
    run_log = RunLog(folders.logs, main)
    if main and state is None:
        _log_run_start(run_log, folders.logs, data, total_steps)
    last_saved_step = position.step if state is not None else None
    checkpointer = Checkpointer(accelerator, model, optimizer, schedule, folders.checkpoints, config, last_saved_step)
    evaluation = (
        classify.evaluation(accelerator, model, loaded.tokenizer, info, run_log)
        if classify
        else TrainingEvaluation(config, accelerator, model, loaded.tokenizer, info, run_log, say)
    )
    loop = StepLoop(
        config=config,
        step=TrainingStep(accelerator, model, optimizer, schedule, config, data, classify.loss if classify else None),
        step_log=StepLog(run_log, accelerator, schedule, config, total_steps, position.step),
        evaluation=evaluation,
        checkpointer=checkpointer,
        global_batch=global_batch,
        total_steps=total_steps,
        say=say,
    )
    model.train()
    stopped = loop.run(position)

    saved = checkpointer.save(position)
    if stopped:
        run_log.close()
        return {"stopped": True, "step": position.step, "checkpoint": str(saved) if saved else None}
    if evaluation.due_at_end(position.step):
        position.best_f1 = evaluation.evaluate(position.step, position.best_f1)
    if main:
        save = classify.save if classify else save_model
        save(accelerator.unwrap_model(model), loaded.tokenizer, info, folders.out, keep_other_files=True)
        say(f"model saved to {folders.out}")
    run_log.close()
    accelerator.wait_for_everyone()
    return {
        "stopped": False,
        "step": position.step,
        "total_steps": total_steps,
        "best_f1": position.best_f1,
        "out": str(folders.out),
    }


def _say_nothing(_: str) -> None:
    pass


def _start_accelerator(config: TrainConfig):
    from accelerate import Accelerator

    # Without a GPU, accelerate needs cpu=True to run several processes (gloo) under torchrun.
    return Accelerator(
        mixed_precision="bf16" if config.precision == "bf16" else "no", cpu=not torch.cuda.is_available()
    )


@dataclass(frozen=True)
class RunFolders:
    out: Path
    checkpoints: Path
    logs: Path

    @classmethod
    def of(cls, config: TrainConfig) -> RunFolders:
        out = Path(config.out)
        checkpoints = Path(config.checkpoint_dir) if config.checkpoint_dir else out / "checkpoints"
        return cls(out, checkpoints, Path(config.logdir) if config.logdir else out / "logs")


def _check_resume(directory: Path, resume: bool, say: Say) -> None:
    """With --resume and no checkpoint, say so; without --resume, an earlier run's checkpoints are an error."""
    latest = latest_checkpoint(directory)
    if resume and latest is None:
        say(f"--resume: no checkpoint in {directory}, starting from the beginning")
    if not resume and latest is not None:
        raise ConfigError(
            f"{directory} already holds checkpoints of an earlier run: add --resume to continue it, or "
            "choose another --out"
        )


def _read_checkpoint(
    directory: Path | None, rank: int, config: TrainConfig, say: Say
) -> tuple[Path | None, dict | None, dict | None]:
    """(checkpoint, its state, this process's RNG state) of the newest readable checkpoint; Nones for a fresh run."""
    resumed = load_latest_readable(directory, rank, say) if directory is not None else None
    if resumed is None:
        return None, None, None
    config.check_resumable_from(resumed.state["config"])
    return resumed.path, resumed.state, resumed.rng


def _restore(state: dict[str, Any] | None, model, optimizer, schedule) -> Position:
    """Load the checkpoint's weights, optimiser and schedule; where it stopped (the start for a fresh run)."""
    if state is None:
        return Position()
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return Position.from_state(state)


@dataclass
class TrainingData:
    windows: list[TrainingWindow]
    lengths: np.ndarray
    summary: PreparationSummary
    pad_id: int

    def tensors(self, indices: np.ndarray, device) -> dict[str, torch.Tensor]:
        windows = [self.windows[i] for i in indices]
        batch = {name: torch.from_numpy(array).to(device) for name, array in pad_windows(windows, self.pad_id).items()}
        batch["start_positions"] = torch.tensor([w.start_label for w in windows], device=device)
        batch["end_positions"] = torch.tensor([w.end_label for w in windows], device=device)
        return batch


def _prepare_data(config: TrainConfig, tokenizer, settings: ReaderSettings, say: Say) -> TrainingData:
    examples, excluded = training_questions(config)
    say(f"preparing {len(examples):,} training questions ...")
    windows, summary = prepare_training_windows(
        tokenizer,
        examples,
        settings,
        config.negatives,
        config.seed,
        exclude=excluded,
        hard_negatives=config.hard_negatives,
    )
    for line in summary.lines():
        say(f"  {line}")
    if not windows:
        example = f" (e.g. {', '.join(summary.skipped_ids[:3])})" if summary.skipped_ids else ""
        raise DataFileError(
            f"the training data ({', '.join(config.train_files)}) has no usable example: {summary.skipped:,} of "
            f"{len(examples):,} question(s) have an answer that is not found in their context{example}; check each "
            "answer's text and answer_start"
        )
    return TrainingData(windows, np.array([w.length for w in windows]), summary, pad_token_id(tokenizer))


def steps_in_run(config: TrainConfig, lengths: np.ndarray, global_batch: int) -> int:
    """The optimiser steps of the whole run: --max-steps, or --epochs of the epoch's full batches."""
    steps_per_epoch = len(epoch_batches(lengths, global_batch, config.seed, 0)) // config.grad_accum
    if steps_per_epoch == 0:
        raise ConfigError(
            f"{len(lengths)} training windows do not fill one step of {global_batch * config.grad_accum}: "
            "lower --batch-size or --grad-accum, or add data"
        )
    return config.max_steps or math.ceil(config.epochs * steps_per_epoch)


def _log_run_start(run_log: RunLog, logdir: Path, data: TrainingData, total_steps: int) -> None:
    run_log.write(0, {"windows": float(len(data.windows)), "total_steps": float(total_steps)})
    (logdir / "data_summary.txt").write_text("\n".join(data.summary.lines()) + "\n")


class TrainingStep:
    """Forward, loss and backward on this process's slice of a global batch; then the optimiser step."""

    def __init__(
        self, accelerator, model, optimizer, schedule, config: TrainConfig, data: TrainingData, loss_of=None
    ) -> None:
        self.loss_of = loss_of  # (model, batch) -> loss for another task (classify); None: the span loss
        self.accelerator = accelerator
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.config = config
        self.data = data

    def accumulate(self, global_batch: np.ndarray, ends_step: bool) -> float:
        """Add this micro-batch's gradients; returns its loss, scaled as the gradients are."""
        config, accelerator = self.config, self.accelerator
        mine = slice(accelerator.process_index * config.batch_size, (accelerator.process_index + 1) * config.batch_size)
        batch = self.data.tensors(global_batch[mine], accelerator.device)
        # Gradients are averaged across processes only on the micro-batch that ends a step.
        skip_sync = not ends_step and accelerator.num_processes > 1
        sync = accelerator.no_sync(self.model) if skip_sync else contextlib.nullcontext()
        with sync, accelerator.autocast():
            if self.loss_of is not None:
                loss = self.loss_of(self.model, batch)
                accelerator.backward(loss / config.grad_accum)
                return float(loss.detach()) / config.grad_accum
            start_logits, end_logits = self.model(
                batch["input_ids"],
                batch["attention_mask"],
                batch.get("token_type_ids"),
                start_positions=batch["start_positions"] if config.head == "pointer" else None,
            )
            loss = span_loss(
                start_logits,
                end_logits,
                batch["start_positions"],
                batch["end_positions"],
                batch["attention_mask"],
                label_smoothing=config.label_smoothing,
            )
            accelerator.backward(loss / config.grad_accum)
        return float(loss.detach()) / config.grad_accum

    def apply(self) -> None:
        if self.config.max_grad_norm > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        # Batches of ever-changing lengths fragment glibc's heap: without this a long run's memory
        # grows step after step until the kernel kills it (spanqa/heap.py).
        release_free_heap()


@dataclass
class StepLoop:
    """Steps from a position to `total_steps`, logging, evaluating and checkpointing on schedule."""

    config: TrainConfig
    step: TrainingStep
    step_log: StepLog
    evaluation: TrainingEvaluation
    checkpointer: Checkpointer
    global_batch: int
    total_steps: int
    say: Say

    def run(self, position: Position) -> bool:
        """Advance `position` to the end; True when a signal stopped it early."""
        stopped = False
        with StopFlag() as stop:
            while position.step < self.total_steps and not stopped:
                stopped = self._run_epoch(position, stop)
        self.step_log.close()
        return stopped

    def _run_epoch(self, position: Position, stop: StopFlag) -> bool:
        """Train on the rest of `position.epoch` (all of it, unless the run ends or stops first)."""
        accum = self.config.grad_accum
        batches = epoch_batches(self.step.data.lengths, self.global_batch, self.config.seed, position.epoch)
        usable = len(batches) - len(batches) % accum
        stopped = False
        while position.micro < usable and position.step < self.total_steps and not stopped:
            ends_step = (position.micro + 1) % accum == 0
            loss = self.step.accumulate(batches[position.micro], ends_step)
            self.step_log.micro_step_done(loss, windows=len(batches[position.micro]))
            position.micro += 1
            if ends_step:
                self.step.apply()
                position.step += 1
                self.step_log.step_done(position.step, epoch=position.epoch + position.micro / max(1, usable))
                stopped = self._after_step(position, stop)
        if position.micro >= usable:
            position.epoch, position.micro = position.epoch + 1, 0
        return stopped

    def _after_step(self, position: Position, stop: StopFlag) -> bool:
        if self.evaluation.due_after_step(position.step):
            position.best_f1 = self.evaluation.evaluate(position.step, position.best_f1)
        if position.step % self.config.save_every == 0:
            self.checkpointer.save(position)
        if stop.requested:
            self.say(f"\nstopping at step {position.step:,}: saving a checkpoint; continue with --resume")
            return True
        return False
