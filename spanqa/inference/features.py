"""Stage 1: question + context -> overlapping windows of tokens, with offsets and labels.

A window is `[CLS] question [SEP] context-slice [SEP]`. Long contexts are cut into
windows that overlap by `doc_stride` tokens, so every answer lies whole inside at
least one window. Each window keeps, for its context tokens, the character offsets
into the original context (and the offsets of the whole word around each token),
which is what lets the decoder return exact character spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanqa.errors import InputError
from spanqa.inference.tokenization import span_tokenizer
from spanqa.settings import ReaderSettings


@dataclass(frozen=True)
class Window:
    example_index: int  # which (question, context) pair this window belongs to
    input_ids: np.ndarray  # [L] int64
    token_type_ids: np.ndarray | None  # [L] int64 segment ids (the runtime drops them for models without)
    context_mask: np.ndarray  # [L] bool, True on context tokens
    offsets: np.ndarray  # [L, 2] int64 character span of each token in the context (0, 0 elsewhere)
    word_offsets: np.ndarray  # [L, 2] int64 character span of the word around each context token
    cls_index: int  # position whose start/end logits stand for "no answer"
    start_label: int = 0  # training target: answer start token, or cls_index
    end_label: int = 0

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


def truncate_questions(tokenizer, questions: Sequence[str], max_question_len: int) -> list[str]:
    """Strip questions and cut those longer than `max_question_len` tokens at a token boundary."""
    stripped = [q.strip() for q in questions]
    truncated = []
    for question, encoding in zip(stripped, span_tokenizer(tokenizer).encode_questions(stripped), strict=True):
        offsets = encoding.offsets
        if len(offsets) > max_question_len:
            # A character the tokenizer splits into several tokens (Hangul under NFD) can straddle the
            # limit; cutting after it would leave more than max_question_len tokens and make the
            # tokenizer panic on doc_stride, so such a character is dropped whole.
            end = min(offsets[max_question_len - 1][1], offsets[max_question_len][0])
            question = question[:end]
        truncated.append(question)
    return truncated


def _word_offsets(offsets: np.ndarray, word_ids: list[int | None], sequence_ids: list[int | None]) -> np.ndarray:
    """Character span of the whole word each token belongs to (tokens of a word are contiguous)."""
    keys = np.array(
        [-1 if w is None else w * 4 + (s or 0) for w, s in zip(word_ids, sequence_ids, strict=True)], dtype=np.int64
    )
    run_starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    run_ends = np.r_[run_starts[1:] - 1, len(keys) - 1]
    run_of_token = np.cumsum(np.r_[True, keys[1:] != keys[:-1]]) - 1
    words = np.empty_like(offsets)
    words[:, 0] = offsets[run_starts, 0][run_of_token]
    words[:, 1] = offsets[run_ends, 1][run_of_token]
    return words


def _answer_token_span(
    offsets: np.ndarray, context_mask: np.ndarray, start_char: int, end_char: int
) -> tuple[int, int] | None:
    """Token span covering [start_char, end_char) when it lies whole inside this window's context."""
    positions = np.flatnonzero(context_mask)
    if positions.size == 0:
        return None
    first, last = positions[0], positions[-1]
    if offsets[first, 0] > start_char or offsets[last, 1] < end_char:
        return None
    starts = offsets[positions, 0]
    ends = offsets[positions, 1]
    start_token = positions[np.searchsorted(starts, start_char, side="right") - 1]
    end_token = positions[min(np.searchsorted(ends, end_char, side="left"), positions.size - 1)]
    if end_token < start_token:
        return None
    return int(start_token), int(end_token)


def encode_windows(
    tokenizer,
    questions: Sequence[str],
    contexts: Sequence[str],
    settings: ReaderSettings,
    answer_char_spans: Sequence[tuple[int, int] | None] | None = None,
) -> list[Window]:
    """Tokenize pairs into windows; with `answer_char_spans`, label each window for training.

    A window's label is the answer's start/end token when the whole answer lies in its
    context, otherwise its CLS position (as for unanswerable questions, span None).
    """
    tokenizer = span_tokenizer(tokenizer)
    questions = truncate_questions(tokenizer, questions, settings.max_question_len)
    room = settings.max_seq_len - settings.max_question_len - tokenizer.num_special_tokens_to_add(pair=True)
    if room <= settings.doc_stride:
        raise InputError(
            f"max_question_len={settings.max_question_len} leaves {room} context tokens per window, not more "
            f"than doc_stride={settings.doc_stride}: lower max_question_len or doc_stride"
        )
    windows = []
    for example_index, encoding in tokenizer.encode_pairs(
        questions, contexts, settings.max_seq_len, settings.doc_stride
    ):
        input_ids = np.asarray(encoding.ids, dtype=np.int64)
        sequence_ids = encoding.sequence_ids
        context_mask = np.array([s == 1 for s in sequence_ids], dtype=bool)
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        offsets[~context_mask] = 0
        word_offsets = _word_offsets(offsets, encoding.word_ids, sequence_ids)
        word_offsets[~context_mask] = 0
        cls_positions = np.flatnonzero(input_ids == tokenizer.cls_token_id)
        cls_index = int(cls_positions[0]) if tokenizer.cls_token_id is not None and cls_positions.size else 0
        start_label = end_label = cls_index
        if answer_char_spans is not None:
            span = answer_char_spans[example_index]
            if span is not None:
                tokens = _answer_token_span(offsets, context_mask, span[0], span[1])
                if tokens is not None:
                    start_label, end_label = tokens
        windows.append(
            Window(
                example_index=int(example_index),
                input_ids=input_ids,
                token_type_ids=np.asarray(encoding.type_ids, dtype=np.int64),
                context_mask=context_mask,
                offsets=offsets,
                word_offsets=word_offsets,
                cls_index=cls_index,
                start_label=start_label,
                end_label=end_label,
            )
        )
    return windows


# A batch is padded to its longest window, and on a CPU a padded position costs as much as a real
# one (attention more), while one more, smaller batch costs about a millisecond. So a batch is cut
# short where the next window would leave more than this share of its row as padding (or more
# than PADDING_SLACK_TOKENS, so that short windows are not split into batches of one or two).
MAX_PADDING_SHARE = 0.2
PADDING_SLACK_TOKENS = 16


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices in batches of similar length (longest first) of at most `batch_size`, so padding stays small.

    A few questions of mixed lengths (a server's batch) become several batches of like lengths;
    many questions (offline prediction) mostly fill whole batches.
    """
    sorted_lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-sorted_lengths, kind="stable")
    sorted_lengths = sorted_lengths[order]
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(sorted_lengths[start])
        shortest_allowed = longest - max(PADDING_SLACK_TOKENS, MAX_PADDING_SHARE * longest)
        end = start + 1
        while end < len(order) and end - start < batch_size and sorted_lengths[end] >= shortest_allowed:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def pad_windows(windows: Sequence[Window], pad_token_id: int) -> dict[str, np.ndarray]:
    """Stack windows into [B, L] arrays padded to the longest of them (dynamic padding)."""
    length = max(w.length for w in windows)
    input_ids = np.full((len(windows), length), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(windows), length), dtype=np.int64)
    token_type_ids = np.zeros((len(windows), length), dtype=np.int64)
    for row, window in enumerate(windows):
        input_ids[row, : window.length] = window.input_ids
        attention_mask[row, : window.length] = 1
        if window.token_type_ids is not None:
            token_type_ids[row, : window.length] = window.token_type_ids
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if windows[0].token_type_ids is not None:
        batch["token_type_ids"] = token_type_ids
    return batch
