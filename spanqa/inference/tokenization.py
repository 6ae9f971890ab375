"""The tokenizer as the reader needs it, on the `tokenizers` library alone.

Importing transformers' AutoTokenizer costs seconds (it pulls in torch); the Rust
`tokenizers` library loads a tokenizer.json in milliseconds and has everything windowing
needs: pair encoding with truncation of the context only, overflowing windows with a
stride, sequence ids, word ids and character offsets. transformers' fast tokenizers wrap
the same object (`backend_tokenizer`), so a tokenizer from either source behaves the same.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spanqa.errors import ModelFolderError


def _token_content(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class SpanTokenizer:
    """Pair encoding into overlapping windows, with offsets; question first, padding on the right."""

    def __init__(self, backend, cls_token: str | None, pad_token: str | None, special_tokens: Sequence[str]) -> None:
        # A private copy: truncation and padding are set per call and must not leak into a shared object.
        self.backend = copy.deepcopy(backend)
        self.backend.no_padding()
        self.backend.no_truncation()
        self.cls_token_id = self.backend.token_to_id(cls_token) if cls_token else None
        self.pad_token_id = self.backend.token_to_id(pad_token) if pad_token else None
        self.special_tokens = frozenset(t for t in special_tokens if t)
        self.padding_side = "right"

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> SpanTokenizer:
        from tokenizers import Tokenizer

        path = Path(folder)
        try:
            backend = Tokenizer.from_file(str(path / "tokenizer.json"))
        except Exception as error:  # the Rust side raises plain Exceptions
            raise ModelFolderError(f"{path / 'tokenizer.json'} cannot be read as a tokenizer: {error}") from error
        config: dict[str, Any] = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            if (path / name).exists():
                try:
                    config.update(json.loads((path / name).read_text(encoding="utf-8")))
                except (OSError, json.JSONDecodeError) as error:
                    raise ModelFolderError(f"{path / name} is not valid JSON: {error}") from error
        names = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token")
        specials = [_token_content(config.get(name)) for name in names]
        return cls(backend, _token_content(config.get("cls_token")), _token_content(config.get("pad_token")), specials)

    @classmethod
    def from_transformers(cls, tokenizer) -> SpanTokenizer:
        return cls(tokenizer.backend_tokenizer, tokenizer.cls_token, tokenizer.pad_token, tokenizer.all_special_tokens)

    def num_special_tokens_to_add(self, pair: bool = True) -> int:
        processor = self.backend.post_processor
        return processor.num_special_tokens_to_add(pair) if processor is not None else 0

    def encode_questions(self, questions: Sequence[str]):
        return self.backend.encode_batch(list(questions), add_special_tokens=False)

    def encode_pairs(self, questions: Sequence[str], contexts: Sequence[str], max_length: int, stride: int):
        """[(pair index, encoding)] for every window of every pair, in order."""
        self.backend.enable_truncation(max_length, stride=stride, strategy="only_second", direction="right")
        try:
            encodings = self.backend.encode_batch(list(zip(questions, contexts, strict=True)))
        finally:
            self.backend.no_truncation()
        windows = []
        for index, encoding in enumerate(encodings):
            windows.append((index, encoding))
            windows.extend((index, overflow) for overflow in encoding.overflowing)
        return windows

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.backend.id_to_token(i) or "" for i in ids]


def span_tokenizer(tokenizer) -> SpanTokenizer:
    """Accept a SpanTokenizer or a transformers fast tokenizer."""
    if isinstance(tokenizer, SpanTokenizer):
        return tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ModelFolderError(
            "the model's tokenizer is a slow (Python) tokenizer; spanqa needs a fast tokenizer for character "
            "offsets: add a tokenizer.json to the model folder (save it with a fast tokenizer)"
        )
    cached = getattr(tokenizer, "_spanqa_tokenizer", None)
    if cached is None:
        cached = SpanTokenizer.from_transformers(tokenizer)
        tokenizer._spanqa_tokenizer = cached
    return cached
