"""Classifier settings: how texts are cut and how labels are chosen, validated when built.

A classifier folder keeps its defaults in spanqa.json under "classifier".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from spanqa.errors import ConfigError

LongText = Literal["truncate", "average"]
LONG_TEXT_CHOICES = ("truncate", "average")


@dataclass(frozen=True)
class ClassifierSettings:
    """`long_text` says what happens to a text longer than `max_seq_len` tokens:

    - "truncate" (default, what transformers' pipeline does): only the first `max_seq_len` tokens are
      read (for a pair, tokens are cut from the longer of the two texts first);
    - "average": the text is cut into windows of `max_seq_len` tokens overlapping by `stride`, every
      window is classified, and the item's logits are the mean of its windows' logits (for a pair,
      the second text is windowed and the first is repeated in every window).

    `threshold` applies to multi-label models (config problem_type "multi_label_classification"):
    a label is returned when its sigmoid probability is at least `threshold`.
    """

    max_seq_len: int = 512
    long_text: LongText = "truncate"
    stride: int = 128
    threshold: float = 0.5
    batch_size: int = 32

    def __post_init__(self) -> None:
        for name in ("max_seq_len", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.long_text not in LONG_TEXT_CHOICES:
            raise ConfigError(f"long_text must be 'truncate' or 'average', got {self.long_text!r}")
        if (
            isinstance(self.stride, bool)
            or not isinstance(self.stride, int)
            or self.stride < 0
            or (self.long_text == "average" and self.stride >= self.max_seq_len // 2)
        ):
            raise ConfigError(
                f"stride must be an integer in [0, max_seq_len / 2) (the overlap of windows), got {self.stride!r}"
            )
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not 0 <= self.threshold <= 1
        ):
            raise ConfigError(f"threshold must be a probability in [0, 1], got {self.threshold!r}")

    def replace(self, **changes: Any) -> ClassifierSettings:
        unknown = [name for name in changes if name not in {f.name for f in dataclasses.fields(self)}]
        if unknown:
            names = ", ".join(f.name for f in dataclasses.fields(self))
            raise ConfigError(f"unknown classifier setting(s) {', '.join(unknown)}: the settings are {names}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierSettings:
        if not isinstance(values, dict):
            raise ConfigError(f"classifier settings must be a JSON object, got {type(values).__name__}")
        return cls().replace(**values)
