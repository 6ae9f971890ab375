"""Training configuration: plain values, validated once, saved in every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from spanqa.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    base: str
    train_files: tuple[str, ...]
    out: str
    eval_file: str | None = None
    epochs: float = 2.0
    max_steps: int | None = None
    lr: float = 5e-5
    batch_size: int = 32  # per process and per micro-step
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_seq_len: int = 384
    doc_stride: int = 128
    max_question_len: int = 64
    seed: int = 42
    optimizer: Literal["adamw", "adafactor"] = "adamw"
    head: Literal["linear", "pointer"] = "linear"
    precision: Literal["fp32", "bf16"] = "fp32"
    negatives: float = 0.0
    save_every: int = 500
    keep_last: int = 3
    eval_every: int | None = None
    eval_limit: int | None = None
    eval_batch_size: int = 64
    logdir: str | None = None
    checkpoint_dir: str | None = None
    log_every: int = 10
    max_train_examples: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        positive = ["lr", "batch_size", "grad_accum", "max_seq_len", "save_every", "keep_last", "log_every"]
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.max_steps is None and self.epochs <= 0:
            raise ConfigError(f"--epochs must be positive, got {self.epochs}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"--max-steps must be positive, got {self.max_steps}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"--warmup-ratio must lie in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.negatives < 0:
            raise ConfigError("--weight-decay and --negatives must not be negative")
        if self.optimizer not in ("adamw", "adafactor"):
            raise ConfigError(f"--optimizer must be adamw or adafactor, got {self.optimizer!r}")
        if self.head not in ("linear", "pointer"):
            raise ConfigError(f"--head must be linear or pointer, got {self.head!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"--precision must be fp32 or bf16, got {self.precision!r}")
        if self.eval_every is not None and self.eval_every <= 0:
            raise ConfigError(f"--eval-every must be positive, got {self.eval_every}")
        if not self.train_files:
            raise ConfigError("give at least one --train file")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["train_files"] = list(self.train_files)
        return values

    # Settings that change what the model learns: a resumed run must not change them.
    RESUME_INVARIANTS = (
        "base",
        "train_files",
        "lr",
        "batch_size",
        "grad_accum",
        "max_seq_len",
        "doc_stride",
        "seed",
        "optimizer",
        "head",
        "negatives",
        "max_question_len",
    )
