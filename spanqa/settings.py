"""Reader settings: the knobs of windowing and decoding, with their defaults, validated when built.

A model folder stores its own defaults in spanqa.json (see spanqa.model.folder)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from spanqa.errors import ConfigError

HeadType = Literal["linear", "pointer"]

# A question/context pair holds at most this many special tokens ([CLS] q [SEP] c [SEP] for
# BERT, <s> q </s></s> c </s> for RoBERTa); used to check that a window leaves room for context.
MAX_SPECIAL_TOKENS = 4


@dataclass(frozen=True)
class ReaderSettings:
    """How a reader cuts contexts into windows and picks answers.

    Token counts are in the model's tokens. `doc_stride` is the overlap between two
    consecutive windows of a long context (the transformers convention).
    `null_threshold` is a probability: with `handle_impossible_answer`, the reader
    answers "no answer" when P(no answer) exceeds it (None: when it is the most
    probable outcome). `temperature` divides every span and no-answer logit before
    the softmax: fitted on held-out questions (`spanqa calibrate`), it makes a score
    of 0.8 mean "right 8 times in 10"; it keeps the order of the spans.
    """

    max_seq_len: int = 384
    doc_stride: int = 128
    max_question_len: int = 64
    max_answer_len: int = 30
    top_k: int = 1
    handle_impossible_answer: bool = False
    null_threshold: float | None = None
    align_to_words: bool = True
    max_context_chars: int = 1_000_000
    temperature: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_seq_len", "max_question_len", "max_answer_len", "top_k", "max_context_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.doc_stride, bool) or not isinstance(self.doc_stride, int) or self.doc_stride < 0:
            raise ConfigError(f"doc_stride must be an integer >= 0, got {self.doc_stride!r}")
        if self.doc_stride >= self.max_seq_len:
            raise ConfigError(
                f"doc_stride ({self.doc_stride}) must be smaller than max_seq_len ({self.max_seq_len}): "
                "it is the overlap between consecutive windows"
            )
        context_room = self.max_seq_len - self.max_question_len - MAX_SPECIAL_TOKENS
        if context_room <= self.doc_stride:
            raise ConfigError(
                f"max_question_len ({self.max_question_len}) leaves {max(context_room, 0)} tokens of context in a "
                f"{self.max_seq_len}-token window, not more than doc_stride ({self.doc_stride}): lower "
                "max_question_len or doc_stride, or raise max_seq_len"
            )
        temperature = self.temperature
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 < temperature < 1e6:
            raise ConfigError(f"temperature must be a positive number, got {temperature!r}")
        if self.null_threshold is not None and not 0.0 <= float(self.null_threshold) <= 1.0:
            raise ConfigError(f"null_threshold is a probability and must lie in [0, 1], got {self.null_threshold!r}")

    def replace(self, **changes: Any) -> ReaderSettings:
        """A copy with `changes` applied; None values mean "keep the current value"."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown reader setting(s): {', '.join(sorted(unknown))}")
        kept = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **kept)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ReaderSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
