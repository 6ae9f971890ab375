"""Stage 1: windows, offsets, training labels, question truncation, padding and batching."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from spanqa.errors import ModelFolderError
from spanqa.inference.features import (
    Window,
    encode_windows,
    length_sorted_batches,
    pad_windows,
    truncate_questions,
)
from spanqa.settings import ReaderSettings

SMALL = ReaderSettings(max_seq_len=64, doc_stride=16, max_question_len=16)
LONG_CONTEXT = " ".join(f"Sentence {i} is about item{i} from town{i}." for i in range(60))


@pytest.fixture(scope="module")
def tokenizer(minilm_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir, use_fast=True)


def context_positions(window: Window) -> np.ndarray:
    return np.flatnonzero(window.context_mask)


def context_offsets(window: Window) -> list[tuple[int, int]]:
    return [tuple(map(int, window.offsets[i])) for i in context_positions(window)]


def char_range(window: Window) -> tuple[int, int]:
    positions = context_positions(window)
    return int(window.offsets[positions[0], 0]), int(window.offsets[positions[-1], 1])


# ------------------------------------------------------------------ windows
@pytest.mark.parametrize("doc_stride", [0, 1, 16, 30])
def test_consecutive_windows_overlap_by_doc_stride_tokens(tokenizer, doc_stride: int) -> None:
    settings = SMALL.replace(doc_stride=doc_stride)
    windows = encode_windows(tokenizer, ["What is it about?"], [LONG_CONTEXT], settings)
    assert len(windows) > 3
    for previous, following in itertools.pairwise(windows):
        prev_ids = previous.input_ids[previous.context_mask]
        next_ids = following.input_ids[following.context_mask]
        prev_offsets, next_offsets = context_offsets(previous), context_offsets(following)
        if doc_stride:
            assert prev_offsets[-doc_stride:] == next_offsets[:doc_stride]
            assert prev_ids[-doc_stride:].tolist() == next_ids[:doc_stride].tolist()
        # exactly doc_stride tokens are shared, not one more
        assert prev_offsets[-doc_stride - 1] not in next_offsets
        assert next_offsets[doc_stride][0] >= prev_offsets[-1][1]


def test_windows_cover_every_context_token_in_order(tokenizer) -> None:
    windows = encode_windows(tokenizer, ["What is it about?"], [LONG_CONTEXT], SMALL)
    alone = tokenizer(LONG_CONTEXT, add_special_tokens=False, return_offsets_mapping=True)
    seen: list[tuple[int, int]] = []
    for window in windows:
        for offset in context_offsets(window):
            if not seen or offset[0] >= seen[-1][1]:
                seen.append(offset)
    assert seen == [tuple(o) for o in alone["offset_mapping"]]


def test_window_layout(tokenizer) -> None:
    question = "What is it about?"
    windows = encode_windows(tokenizer, [question], [LONG_CONTEXT], SMALL)
    question_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
    for window in windows:
        assert window.length <= SMALL.max_seq_len
        assert window.example_index == 0
        assert window.cls_index == 0 and window.input_ids[0] == tokenizer.cls_token_id
        assert window.input_ids[1 : 1 + len(question_ids)].tolist() == question_ids
        assert window.input_ids[1 + len(question_ids)] == tokenizer.sep_token_id
        assert window.input_ids[-1] == tokenizer.sep_token_id
        positions = context_positions(window)
        assert positions.tolist() == list(range(2 + len(question_ids), window.length - 1))
        assert window.token_type_ids is not None
        assert window.token_type_ids[positions].tolist() == [1] * positions.size
        assert window.token_type_ids[: positions[0]].tolist() == [0] * int(positions[0])
    assert all(w.length == SMALL.max_seq_len for w in windows[:-1])


def test_short_context_is_one_window(tokenizer) -> None:
    windows = encode_windows(tokenizer, ["Who?"], ["Ada wrote it."], ReaderSettings())
    assert len(windows) == 1
    assert [tokenizer.convert_ids_to_tokens(int(i)) for i in windows[0].input_ids[windows[0].context_mask]] == [
        "ada",
        "wrote",
        "it",
        ".",
    ]


def test_windows_of_several_pairs_keep_their_example_index(tokenizer) -> None:
    contexts = ["Short one.", LONG_CONTEXT, "Another short text."]
    windows = encode_windows(tokenizer, ["q1", "q2 is longer", "q3"], contexts, SMALL)
    indices = [w.example_index for w in windows]
    assert indices == sorted(indices)
    assert indices.count(0) == 1 and indices.count(2) == 1 and indices.count(1) > 3
    for window in windows:
        context = contexts[window.example_index]
        assert char_range(window)[1] <= len(context)


@pytest.mark.parametrize(
    "context",
    [
        LONG_CONTEXT,
        "  Leading spaces, café naïve Zürich — “curly quotes” and\ttabs\n\nnew   lines. "
        "東京は大きい 😀 e\u0301 zero\u200bwidth " * 6,
    ],
)
def test_context_offsets_map_back_into_the_context(tokenizer, context: str) -> None:
    windows = encode_windows(tokenizer, ["What is it?"], [context], SMALL)
    for window in windows:
        outside = ~window.context_mask
        assert (window.offsets[outside] == 0).all() and (window.word_offsets[outside] == 0).all()
        for position in context_positions(window):
            start, end = window.offsets[position]
            word_start, word_end = window.word_offsets[position]
            assert 0 <= start < end <= len(context)
            assert word_start <= start and end <= word_end <= len(context)
            assert context[start:end].strip() == context[start:end]
            assert not any(ch.isspace() for ch in context[word_start:word_end])


def test_ascii_token_offsets_spell_the_token(tokenizer) -> None:
    windows = encode_windows(tokenizer, ["What is it?"], [LONG_CONTEXT], SMALL)
    for window in windows:
        for position in context_positions(window):
            token = tokenizer.convert_ids_to_tokens(int(window.input_ids[position])).removeprefix("##")
            start, end = window.offsets[position]
            assert LONG_CONTEXT[start:end].lower() == token


def test_word_offsets_cover_whole_words(tokenizer) -> None:
    context = "The unbelievably longwinded antidisestablishmentarianism debate."
    (window,) = encode_windows(tokenizer, ["What?"], [context], ReaderSettings())
    words = {context[s:e] for s, e in window.word_offsets[window.context_mask].tolist()}
    assert words == {"The", "unbelievably", "longwinded", "antidisestablishmentarianism", "debate", "."}


# ------------------------------------------------------------------ labels
def label_windows(tokenizer, context: str, answer: str, occurrence: int = 0, settings: ReaderSettings = SMALL):
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(answer, start + 1)
    span = (start, start + len(answer))
    return span, encode_windows(tokenizer, ["Which item?"], [context], settings, answer_char_spans=[span])


@pytest.mark.parametrize("answer", ["item3 from town3", "Sentence 20", "town59.", "item33", "Sentence 0 is"])
def test_labels_point_at_the_answer_only_when_it_lies_whole_in_the_window(tokenizer, answer: str) -> None:
    (start_char, end_char), windows = label_windows(tokenizer, LONG_CONTEXT, answer)
    labelled = 0
    for window in windows:
        first, last = char_range(window)
        inside = first <= start_char and end_char <= last
        if inside:
            labelled += 1
            assert window.context_mask[window.start_label] and window.context_mask[window.end_label]
            assert window.start_label <= window.end_label
            covered = LONG_CONTEXT[window.offsets[window.start_label, 0] : window.offsets[window.end_label, 1]]
            assert covered == answer
        else:
            assert window.start_label == window.end_label == window.cls_index
    assert labelled >= 1


def test_answer_in_the_overlap_is_labelled_in_both_windows(tokenizer) -> None:
    windows = encode_windows(tokenizer, ["Which item?"], [LONG_CONTEXT], SMALL)
    # the first context token of window 1 lies in the overlap with window 0
    start_char, end_char = context_offsets(windows[1])[0]
    span_windows = encode_windows(
        tokenizer, ["Which item?"], [LONG_CONTEXT], SMALL, answer_char_spans=[(start_char, end_char)]
    )
    hits = [i for i, w in enumerate(span_windows) if w.start_label != w.cls_index]
    assert hits == [0, 1]
    for i in hits:
        window = span_windows[i]
        assert window.start_label == window.end_label
        assert tuple(window.offsets[window.start_label]) == (start_char, end_char)


def test_answer_cut_by_the_window_edge_gets_the_cls_label(tokenizer) -> None:
    settings = SMALL.replace(doc_stride=0)
    windows = encode_windows(tokenizer, ["Which item?"], [LONG_CONTEXT], settings)
    # an answer that starts at the last context token of window 0 and ends in window 1
    last_start = context_offsets(windows[0])[-1][0]
    first_end = context_offsets(windows[1])[0][1]
    labelled = encode_windows(
        tokenizer, ["Which item?"], [LONG_CONTEXT], settings, answer_char_spans=[(last_start, first_end)]
    )
    assert all(w.start_label == w.end_label == w.cls_index == 0 for w in labelled)


def test_unanswerable_examples_get_the_cls_label(tokenizer) -> None:
    windows = encode_windows(
        tokenizer, ["q", "q"], ["Ada wrote it.", LONG_CONTEXT], SMALL, answer_char_spans=[(0, 3), None]
    )
    assert windows[0].start_label != 0  # "Ada" in the first pair
    assert all(w.start_label == w.end_label == w.cls_index for w in windows[1:])


def test_answer_inside_a_word_labels_the_whole_token(tokenizer) -> None:
    context = "It was written by Lovelace in 1843."
    start = context.index("lace")  # inside the word "Lovelace"
    (window,) = encode_windows(tokenizer, ["Who?"], [context], SMALL, answer_char_spans=[(start, start + 4)])
    covered = context[window.offsets[window.start_label, 0] : window.offsets[window.end_label, 1]]
    assert "lace" in covered and window.start_label != window.cls_index


# ------------------------------------------------------------------ questions
def test_truncate_questions_cuts_at_a_token_boundary(tokenizer) -> None:
    long_question = "  one two three four five six seven eight  "
    assert truncate_questions(tokenizer, [long_question, " short? "], 3) == ["one two three", "short?"]
    offsets = tokenizer("unbelievably", add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert len(offsets) > 2
    assert truncate_questions(tokenizer, ["unbelievably"], 2) == ["unbelievably"[: offsets[1][1]]]


def test_characters_split_into_several_tokens_are_dropped_whole(tokenizer) -> None:
    question = "한국어 " * 10  # every Hangul syllable is 2 or 3 tokens under BERT's NFD normaliser
    (truncated,) = truncate_questions(tokenizer, [question], 12)
    assert question.startswith(truncated)
    assert len(tokenizer.tokenize(truncated)) <= 12
    assert len(tokenizer.tokenize(truncated)) >= 9  # at most one character (3 tokens) is dropped


def test_a_long_hangul_question_with_the_largest_doc_stride_does_not_crash(tokenizer) -> None:
    settings = ReaderSettings(max_seq_len=48, max_question_len=12, doc_stride=31)
    windows = encode_windows(tokenizer, ["한국어 " * 10], ["word " * 100], settings)
    assert len(windows) > 1 and all(w.length <= 48 for w in windows)


def test_long_questions_are_truncated_to_max_question_len(tokenizer) -> None:
    question = " ".join(f"word{i}" for i in range(100))
    windows = encode_windows(tokenizer, [question, "Short?"], [LONG_CONTEXT, "Ada wrote it."], SMALL)
    for window in windows:
        first_context = int(context_positions(window)[0])
        question_tokens = first_context - 2  # [CLS] question [SEP]
        expected = SMALL.max_question_len if window.example_index == 0 else 2
        assert question_tokens == expected
        assert window.length <= SMALL.max_seq_len


# ------------------------------------------------------------------ padding and batching
def make_window(length: int, with_segments: bool = True) -> Window:
    ids = np.arange(1, length + 1, dtype=np.int64)
    mask = np.zeros(length, dtype=bool)
    return Window(
        example_index=0,
        input_ids=ids,
        token_type_ids=np.ones(length, dtype=np.int64) if with_segments else None,
        context_mask=mask,
        offsets=np.zeros((length, 2), dtype=np.int64),
        word_offsets=np.zeros((length, 2), dtype=np.int64),
        cls_index=0,
    )


def test_pad_windows_pads_to_the_longest_window_only() -> None:
    batch = pad_windows([make_window(3), make_window(7), make_window(5)], pad_token_id=0)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    assert batch["input_ids"].shape == (3, 7) and batch["input_ids"].dtype == np.int64
    assert batch["attention_mask"].sum(axis=1).tolist() == [3, 7, 5]
    assert batch["input_ids"][0].tolist() == [1, 2, 3, 0, 0, 0, 0]
    assert batch["token_type_ids"][2].tolist() == [1, 1, 1, 1, 1, 0, 0]
    assert (batch["input_ids"][batch["attention_mask"] == 0] == 0).all()


def test_pad_windows_uses_the_pad_id_and_drops_missing_segments() -> None:
    batch = pad_windows([make_window(2, with_segments=False), make_window(4, with_segments=False)], pad_token_id=99)
    assert "token_type_ids" not in batch
    assert batch["input_ids"][0].tolist() == [1, 2, 99, 99]


def test_real_windows_pad_to_their_longest(tokenizer) -> None:
    windows = encode_windows(tokenizer, ["Who?", "What is it about?"], ["Ada wrote it.", LONG_CONTEXT], SMALL)
    batch = pad_windows(windows[:2], tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, max(w.length for w in windows[:2]))
    assert batch["input_ids"][0, : windows[0].length].tolist() == windows[0].input_ids.tolist()


@pytest.mark.parametrize("batch_size", [1, 2, 3, 10])
def test_length_sorted_batches(batch_size: int) -> None:
    lengths = [5, 9, 2, 9, 7, 1, 5, 3]  # all within the padding slack of each other
    batches = length_sorted_batches(lengths, batch_size)
    order = np.concatenate(batches).tolist()
    assert sorted(order) == list(range(len(lengths)))
    assert all(len(b) == batch_size for b in batches[:-1]) and 1 <= len(batches[-1]) <= batch_size
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)
    assert order.index(1) < order.index(3) and order.index(0) < order.index(6)  # stable for equal lengths


def test_length_sorted_batches_cut_where_padding_would_dominate() -> None:
    lengths = [384, 100, 380, 120, 300, 96, 310, 110]
    batches = [[lengths[i] for i in batch] for batch in length_sorted_batches(lengths, 32)]
    assert batches == [[384, 380, 310], [300], [120, 110, 100, 96]]
    for batch in batches:  # every row is at least 80% real tokens, or at most 16 tokens short
        assert all(length >= min(0.8 * batch[0], batch[0] - 16) for length in batch)


def test_many_windows_of_like_lengths_fill_whole_batches() -> None:
    lengths = np.random.default_rng(0).integers(100, 384, size=1000).tolist()
    batches = length_sorted_batches(lengths, 32)
    assert sum(len(b) == 32 for b in batches) >= len(batches) - 2


def test_length_sorted_batches_of_nothing() -> None:
    assert length_sorted_batches([], 4) == []


# ------------------------------------------------------------------ tokenizer checks
def test_slow_tokenizers_are_refused() -> None:
    from spanqa.inference.tokenization import span_tokenizer

    with pytest.raises(ModelFolderError, match="fast tokenizer"):
        span_tokenizer(SimpleNamespace(is_fast=False))


def test_tokenizer_from_folder_matches_the_transformers_one(tokenizer, tiny_model_dir) -> None:
    from spanqa.inference.tokenization import SpanTokenizer

    plain = SpanTokenizer.from_folder(tiny_model_dir)
    assert plain.cls_token_id == tokenizer.cls_token_id and plain.pad_token_id == tokenizer.pad_token_id
    ours = encode_windows(plain, ["What is it about?"], [LONG_CONTEXT], SMALL)
    theirs = encode_windows(tokenizer, ["What is it about?"], [LONG_CONTEXT], SMALL)
    assert len(ours) == len(theirs) > 1
    for a, b in zip(ours, theirs, strict=True):
        assert a.input_ids.tolist() == b.input_ids.tolist() and a.offsets.tolist() == b.offsets.tolist()
