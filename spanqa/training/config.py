"""Training configuration: plain values, validated once, saved in every checkpoint.

Each field carries the help text of its `spanqa train` option (the options are generated from
these fields); `path` marks the fields that name a file or folder.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Literal

from spanqa.errors import ConfigError
from spanqa.settings import ReaderSettings


def setting(default: Any = dataclasses.MISSING, *, help: str, path: bool = False) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "path": path})


@dataclass(frozen=True)
class TrainConfig:
    base: str = setting(help="Hugging Face encoder folder (or QA model) to start from.")
    train_files: tuple[str, ...] = setting(help="SQuAD v1.1/v2.0 JSON training file (repeat for several).", path=True)
    out: str = setting(help="Output model folder (also holds checkpoints/ and logs/).", path=True)
    eval_file: str | None = setting(None, help="SQuAD JSON file to evaluate on.", path=True)
    exclude_files: tuple[str, ...] = setting(
        (), help="SQuAD JSON file of held-out questions to leave out of --train (repeatable).", path=True
    )
    epochs: float = setting(2.0, help="Passes over the training data.")
    max_steps: int | None = setting(None, help="Stop after this many optimiser steps.")
    lr: float = setting(5e-5, help="Peak learning rate.")
    batch_size: int = setting(32, help="Windows per process per micro-step.")
    grad_accum: int = setting(1, help="Micro-steps per optimiser step.")
    warmup_ratio: float = setting(0.1, help="Share of steps with linear warm-up.")
    weight_decay: float = setting(0.01, help="AdamW weight decay.")
    max_grad_norm: float = setting(1.0, help="Clip the gradient norm to this (0: no clipping).")
    max_seq_len: int = setting(384, help="Tokens per window.")
    doc_stride: int = setting(128, help="Overlap between windows, in tokens.")
    max_question_len: int = setting(64, help="Questions are cut to this many tokens.")
    seed: int = setting(42, help="Random seed (data order, dropout, head init).")
    optimizer: Literal["adamw", "adafactor"] = setting("adamw", help="adamw or adafactor.")
    head: Literal["linear", "pointer"] = setting("linear", help="linear or pointer span head.")
    precision: Literal["fp32", "bf16"] = setting("fp32", help="fp32, or bf16 autocast.")
    negatives: float = setting(
        0.0, help="Synthetic unanswerable examples per question (other paragraphs of its article)."
    )
    label_smoothing: float = setting(
        0.0, help="Share of each start/end target spread over the window's tokens (0: none; try 0.1)."
    )
    hard_negatives: float = setting(
        0.0,
        help="Hard unanswerable questions rewritten from answerable ones, per answerable question "
        "(negation, swapped name, antonym, changed number, impossible condition): for data without any.",
    )
    save_every: int = setting(500, help="Checkpoint every N steps.")
    keep_last: int = setting(3, help="Checkpoints to keep.")
    keep_every: int | None = setting(
        None, help="Also keep the checkpoint of every N-th step, for scripts/average_checkpoints.py (a multiple "
        "of --save-every)."
    )
    eval_every: int | None = setting(None, help="Evaluate on --eval every N steps.")
    eval_limit: int | None = setting(None, help="Evaluate on the first N questions only.")
    eval_batch_size: int = setting(64, help="Windows per batch when evaluating.")
    logdir: str | None = setting(None, help="TensorBoard + JSONL log folder (default OUT/logs).", path=True)
    checkpoint_dir: str | None = setting(None, help="Where checkpoints go (default OUT/checkpoints).", path=True)
    log_every: int = setting(10, help="Log every N steps.")
    max_train_examples: int | None = setting(None, help="Use the first N questions only.")
    progress: bool = setting(True, help="Show a progress bar.")
    task: Literal["reader", "classify"] = setting(
        "reader", help="reader (extractive QA on SQuAD JSON) or classify (text classification on .csv/.jsonl)."
    )
    text_column: str | None = setting(None, help="--task classify: the column holding the text.")
    text_pair_column: str | None = setting(None, help="--task classify: the column holding the second text of a pair.")
    label_column: str | None = setting(None, help="--task classify: the column holding the label.")
    multi_label: bool = setting(False, help="--task classify: several labels per text ('a|b' in the label column).")

    def __post_init__(self) -> None:
        positive = ["lr", "batch_size", "grad_accum", "max_seq_len", "save_every", "keep_last", "log_every"]
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.max_steps is None and self.epochs <= 0:
            raise ConfigError(f"--epochs must be positive, got {self.epochs}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"--max-steps must be positive, got {self.max_steps}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"--label-smoothing must lie in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"--warmup-ratio must lie in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.negatives < 0 or self.hard_negatives < 0:
            raise ConfigError("--weight-decay, --negatives and --hard-negatives must not be negative")
        if self.optimizer not in ("adamw", "adafactor"):
            raise ConfigError(f"--optimizer must be adamw or adafactor, got {self.optimizer!r}")
        if self.head not in ("linear", "pointer"):
            raise ConfigError(f"--head must be linear or pointer, got {self.head!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"--precision must be fp32 or bf16, got {self.precision!r}")
        if self.keep_every is not None and (self.keep_every <= 0 or self.keep_every % self.save_every):
            raise ConfigError(
                f"--keep-every must be a positive multiple of --save-every ({self.save_every}), got {self.keep_every}"
            )
        if self.eval_every is not None and self.eval_every <= 0:
            raise ConfigError(f"--eval-every must be positive, got {self.eval_every}")
        if not self.train_files:
            raise ConfigError("give at least one --train file")
        if self.task not in ("reader", "classify"):
            raise ConfigError(f"--task must be reader or classify, got {self.task!r}")
        if self.task == "classify" and (not self.text_column or not self.label_column):
            raise ConfigError("--task classify needs --text-column and --label-column (the columns of --train)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config a checkpoint or spanqa.json recorded (`to_dict`); settings it predates take their defaults."""
        fields = {field.name: field for field in dataclasses.fields(cls)}
        known = {name: value for name, value in values.items() if name in fields}
        for name in ("train_files", "exclude_files"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)

    def reader_settings(self) -> ReaderSettings:
        """How training cuts its windows (the same settings cut them at inference)."""
        return ReaderSettings(
            max_seq_len=self.max_seq_len, doc_stride=self.doc_stride, max_question_len=self.max_question_len
        )

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["train_files"] = list(self.train_files)
        values["exclude_files"] = list(self.exclude_files)
        return values

    def check_resumable_from(self, saved: dict[str, Any]) -> None:
        """Refuse to resume a checkpoint saved with `saved` (its config dict) if that changes what is learnt."""
        current = self.to_dict()
        # A checkpoint written before a setting existed holds that setting's default.
        defaults = {
            field.name: list(field.default) if isinstance(field.default, tuple) else field.default
            for field in dataclasses.fields(self)
        }
        changed = [
            name
            for name in self.RESUME_INVARIANTS
            if _same_files(saved.get(name, defaults[name])) != _same_files(current.get(name))
        ]
        if changed:
            details = ", ".join(f"{name}: {saved.get(name)!r} -> {current.get(name)!r}" for name in changed)
            raise ConfigError(f"--resume with different settings than the checkpoint ({details}): use the same ones")

    # Settings that change what the model learns: a resumed run must not change them.
    RESUME_INVARIANTS = (
        "base",
        "train_files",
        "exclude_files",
        "lr",
        "batch_size",
        "grad_accum",
        "max_seq_len",
        "doc_stride",
        "seed",
        "optimizer",
        "head",
        "negatives",
        "hard_negatives",
        "label_smoothing",
        "max_question_len",
        "task",
        "text_column",
        "text_pair_column",
        "label_column",
        "multi_label",
    )


def _same_files(value: Any) -> Any:
    """A setting as compared on resume: a path that exists as its real path, so that
    `../data/train.json` and `/work/data/train.json` are the same file (lists item by item)."""
    if isinstance(value, list | tuple):
        return [_same_files(item) for item in value]
    if isinstance(value, str) and value and os.path.exists(value):
        return os.path.realpath(value)
    return value
