"""Stage 1 of classification: check the items, tokenize them into windows, pad batches.

An item is a text or a (text, text_pair) pair. Tokenizing runs on the `tokenizers` library alone
(the same SpanTokenizer the reader uses), so an ONNX classifier starts without transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanqa.classify.settings import ClassifierSettings
from spanqa.errors import InputError
from spanqa.inference.inputs import check_text
from spanqa.inference.tokenization import span_tokenizer

Item = str | tuple[str, str]


@dataclass(frozen=True)
class TextWindow:
    item_index: int  # which item this window belongs to
    input_ids: np.ndarray  # [L] int64
    token_type_ids: np.ndarray  # [L] int64
    tokens: tuple[str, ...]  # [L] what the tokenizer made of the text (for --explain)

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


def check_items(items: Item | Sequence[Item]) -> tuple[list[Item], bool]:
    """(items as a list, whether one item was given alone); an InputError naming the bad item otherwise."""
    single = isinstance(items, str) or (
        isinstance(items, tuple) and len(items) == 2 and all(isinstance(t, str) for t in items)
    )
    listed = [items] if single else items
    if isinstance(listed, bytes | bytearray) or not isinstance(listed, Sequence):
        raise InputError(
            f"texts must be a text, a (text, text_pair) pair or a list of them, got {type(items).__name__}"
        )
    if not listed:
        raise InputError("no texts to classify: give at least one text")
    checked: list[Item] = []
    for index, item in enumerate(listed):
        field = "text" if single else f"texts[{index}]"
        if isinstance(item, tuple | list):
            if len(item) != 2:
                raise InputError(f"{field} must be a text or a (text, text_pair) pair, got {len(item)} values")
            checked.append((check_text(item[0], field), check_text(item[1], f"{field} text_pair")))
        else:
            checked.append(check_text(item, field))
    return checked, single


def encode_items(tokenizer, items: Sequence[Item], settings: ClassifierSettings) -> list[TextWindow]:
    """Every window of every item, in item order: one per item ("truncate"), or several for long texts ("average")."""
    backend = span_tokenizer(tokenizer).backend
    average = settings.long_text == "average"
    encodings: list = [None] * len(items)
    for pair in (False, True):
        indices = [i for i, item in enumerate(items) if isinstance(item, tuple) == pair]
        if not indices:
            continue
        strategy = "only_second" if average and pair else "longest_first"
        backend.enable_truncation(settings.max_seq_len, stride=settings.stride if average else 0, strategy=strategy)
        try:
            encoded = backend.encode_batch([items[i] for i in indices])
        except Exception as error:  # the Rust side raises plain Exceptions (a first text too long to window)
            raise InputError(
                f"a text pair cannot be cut into windows of {settings.max_seq_len} tokens ({error}): shorten its "
                "first text, or use long_text='truncate'"
            ) from error
        finally:
            backend.no_truncation()
        for index, encoding in zip(indices, encoded, strict=True):
            encodings[index] = encoding
    windows: list[TextWindow] = []
    for index, encoding in enumerate(encodings):
        for part in [encoding, *(encoding.overflowing if average else [])]:
            windows.append(
                TextWindow(
                    index,
                    np.asarray(part.ids, dtype=np.int64),
                    np.asarray(part.type_ids, dtype=np.int64),
                    tuple(part.tokens),
                )
            )
    return windows
