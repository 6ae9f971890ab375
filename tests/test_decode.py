"""Stage 3 on hand-built logits (numpy only, no model).

A test window is laid out as `[CLS] q q [SEP] c0 c1 ... [SEP] [PAD] [PAD]`: the context
tokens c_k are words of a context string, each with its own character span.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from spanqa.inference.decode import DecodeOptions, WindowLogits, decode_example, null_logit, span_band

QUESTION_LEN = 2
PADDING = 2
FIRST = QUESTION_LEN + 2  # position of the first context token


def word_spans(context: str) -> list[tuple[int, int]]:
    spans, position = [], 0
    for word in context.split(" "):
        spans.append((position, position + len(word)))
        position += len(word) + 1
    return spans


def make_window(
    spans: Sequence[tuple[int, int]],
    start: dict[int, float] | np.ndarray | None = None,
    end: dict[int, float] | np.ndarray | None = None,
    *,
    word_spans_: Sequence[tuple[int, int]] | None = None,
    context_index: int = 0,
    dtype: type = np.float32,
) -> WindowLogits:
    """A window over context tokens with character `spans`; logits given as {position: value} or arrays."""
    length = FIRST + len(spans) + 1 + PADDING
    mask = np.zeros(length, dtype=bool)
    mask[FIRST : FIRST + len(spans)] = True
    offsets = np.zeros((length, 2), dtype=np.int64)
    offsets[FIRST : FIRST + len(spans)] = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    words = np.zeros((length, 2), dtype=np.int64)
    words[FIRST : FIRST + len(spans)] = np.asarray(word_spans_ if word_spans_ is not None else spans).reshape(-1, 2)

    def as_array(values, shape):
        if isinstance(values, np.ndarray):
            return values.astype(dtype)
        array = np.zeros(shape, dtype=dtype)
        for position, value in (values or {}).items():
            array[position] = value
        return array

    return WindowLogits(
        start_logits=as_array(start, (length,)),
        end_logits=as_array(end, (length,) if not isinstance(end, np.ndarray) else end.shape),
        context_mask=mask,
        offsets=offsets,
        word_offsets=words,
        cls_index=0,
        context_index=context_index,
    )


def c(k: int) -> int:
    """Position of context token k."""
    return FIRST + k


def all_spans(window: WindowLogits, max_answer_len: int) -> list[tuple[int, int, float]]:
    """Every valid (start, end, logit), by a plain double loop: the reference for decode."""
    spans = []
    positions = np.flatnonzero(window.context_mask).tolist()
    for i in positions:
        for j in positions:
            if i <= j < i + max_answer_len:
                end = window.end_logits[j] if window.end_logits.ndim == 1 else window.end_logits[i, j]
                spans.append((i, j, float(window.start_logits[i]) + float(end)))
    return spans


def everything(**changes) -> DecodeOptions:
    """Options that return every candidate (top_k and candidates_per_window beyond the span count)."""
    values = {"top_k": 10_000, "candidates_per_window": 10_000, "max_answer_len": 30}
    values.update(changes)
    return DecodeOptions(**values)


CONTEXT = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
SPANS = word_spans(CONTEXT)


# ------------------------------------------------------------------ candidate spans
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_answer_len", [1, 3, 30])
def test_decode_matches_a_brute_force_softmax_over_valid_spans(seed: int, max_answer_len: int) -> None:
    rng = np.random.default_rng(seed)
    length = FIRST + len(SPANS) + 1 + PADDING
    # big logits everywhere, also on the question, the special tokens and the padding
    window = make_window(SPANS, rng.normal(0, 3, length), rng.normal(0, 3, length))
    decoded = decode_example([window], [CONTEXT], everything(max_answer_len=max_answer_len))
    reference = all_spans(window, max_answer_len)
    total = math.log(sum(math.exp(logit) for _, _, logit in reference))
    expected = {(SPANS[i - FIRST][0], SPANS[j - FIRST][1]): math.exp(logit - total) for i, j, logit in reference}
    got = {(a.start, a.end): a.score for a in decoded.answers}
    assert got.keys() == expected.keys()
    for key, probability in expected.items():
        assert got[key] == pytest.approx(probability, rel=1e-5, abs=1e-12)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-9)
    for answer in decoded.answers:
        assert CONTEXT[answer.start : answer.end] == answer.text
        assert 0 <= answer.score <= 1
    scores = [a.score for a in decoded.answers]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_divides_every_logit_and_keeps_the_order(temperature: float) -> None:
    rng = np.random.default_rng(7)
    length = FIRST + len(SPANS) + 1 + PADDING
    window = make_window(SPANS, rng.normal(0, 3, length), rng.normal(0, 3, length))
    plain = decode_example([window], [CONTEXT], everything(handle_impossible_answer=True))
    scaled = decode_example([window], [CONTEXT], everything(handle_impossible_answer=True, temperature=temperature))
    reference = [logit / temperature for _, _, logit in all_spans(window, 30)]
    null = null_logit(window) / temperature
    total = math.log(sum(math.exp(logit) for logit in reference) + math.exp(null))
    assert scaled.no_answer_probability == pytest.approx(math.exp(null - total), rel=1e-6)
    assert max(a.score for a in scaled.answers) == pytest.approx(math.exp(max([*reference, null]) - total), rel=1e-6)
    assert [(a.start, a.end) for a in scaled.answers] == [(a.start, a.end) for a in plain.answers]
    sharper, flatter = (scaled, plain) if temperature < 1 else (plain, scaled)
    assert sharper.answers[0].score > flatter.answers[0].score


def test_spans_respect_start_before_end_and_max_answer_len() -> None:
    # the best start lies after the best end; the longest span is the most tempting
    window = make_window(SPANS, {c(0): 4.0, c(8): 9.0}, {c(2): 9.0, c(9): 5.0})
    (best,) = decode_example([window], [CONTEXT], DecodeOptions(max_answer_len=30)).answers
    assert best.text == "india juliet"  # c8..c9: the start c8 cannot end at c2
    (short,) = decode_example([window], [CONTEXT], DecodeOptions(max_answer_len=1)).answers
    assert " " not in short.text
    for max_answer_len in (1, 2, 4):
        answers = decode_example([window], [CONTEXT], everything(max_answer_len=max_answer_len)).answers
        assert max(len(a.text.split()) for a in answers) == max_answer_len


def test_max_answer_len_cuts_a_long_favourite() -> None:
    window = make_window(SPANS, {c(0): 10.0}, {c(9): 10.0})
    (full,) = decode_example([window], [CONTEXT], DecodeOptions(max_answer_len=10)).answers
    assert full.text == CONTEXT
    (cut,) = decode_example([window], [CONTEXT], DecodeOptions(max_answer_len=3)).answers
    assert len(cut.text.split()) <= 3


def test_spans_in_the_question_special_tokens_or_padding_are_never_returned() -> None:
    length = FIRST + len(SPANS) + 1 + PADDING
    start = np.zeros(length)
    end = np.zeros(length)
    outside = [0, 1, 2, 3, length - 3, length - 2, length - 1]  # CLS, question, SEP, SEP, padding
    start[outside] = 1e3
    end[outside] = 1e3
    start[c(4)] = 2.0  # a modest favourite inside the context
    end[c(5)] = 2.0
    window = make_window(SPANS, start, end)
    decoded = decode_example([window], [CONTEXT], everything())
    assert decoded.answers[0].text == "echo foxtrot"
    token_starts, token_ends = {s for s, _ in SPANS}, {e for _, e in SPANS}
    for answer in decoded.answers:
        assert answer.start in token_starts and answer.end in token_ends and answer.start < answer.end
    assert sum(a.score for a in decoded.answers) == pytest.approx(1.0)


def test_best_start_in_the_question_and_best_end_in_the_context() -> None:
    window = make_window(SPANS, {1: 50.0, c(1): 1.0}, {c(3): 50.0})
    (best,) = decode_example([window], [CONTEXT], DecodeOptions()).answers
    assert best.text == "bravo charlie delta"


def test_a_window_without_context_tokens_gives_no_answers() -> None:
    window = make_window([], {0: 3.0}, {0: 3.0})
    decoded = decode_example([window], [CONTEXT], DecodeOptions(top_k=5))
    assert decoded.answers == []
    assert decoded.no_answer_probability == pytest.approx(1.0)
    assert decode_example([], [CONTEXT], DecodeOptions()).answers == []


# ------------------------------------------------------------------ ties and extreme values
def test_ties_share_the_probability_and_break_by_position() -> None:
    context = "one two three"
    window = make_window(word_spans(context))
    decoded = decode_example([window], [context], everything())
    assert len(decoded.answers) == 6
    assert all(a.score == pytest.approx(1 / 6) for a in decoded.answers)
    ranked = [(a.start, a.end) for a in decoded.answers]
    assert ranked == sorted(ranked)  # equal scores: earliest, then shortest, first
    assert decode_example([window], [context], DecodeOptions()).answers[0].text == "one"


def test_ties_are_deterministic_on_a_big_window() -> None:
    context = " ".join(f"w{i}" for i in range(200))
    window = make_window(word_spans(context))
    first = decode_example([window], [context], DecodeOptions(top_k=5))
    again = decode_example([window], [context], DecodeOptions(top_k=5))
    assert [(a.start, a.end, a.score) for a in first.answers] == [(a.start, a.end, a.score) for a in again.answers]
    spans = 200 * 30 - 30 * 29 // 2
    assert all(a.score == pytest.approx(1 / spans) for a in first.answers)


@pytest.mark.parametrize("value", [1e4, -1e4])
def test_huge_logits_give_finite_probabilities(value: float) -> None:
    length = FIRST + len(SPANS) + 1 + PADDING
    start = np.full(length, value)
    end = np.full(length, value)
    start[c(2)] = end[c(3)] = 2 * abs(value)  # the favourite
    window = make_window(SPANS, start, end)
    for handle in (False, True):
        decoded = decode_example([window], [CONTEXT], everything(handle_impossible_answer=handle))
        scores = np.array([a.score for a in decoded.answers])
        assert np.isfinite(scores).all() and np.isfinite(decoded.no_answer_probability)
        assert ((scores >= 0) & (scores <= 1)).all()
        assert decoded.answers[0].text == "charlie delta"
        assert scores.sum() == pytest.approx(1.0)


def test_huge_equal_logits_everywhere() -> None:
    length = FIRST + len(SPANS) + 1 + PADDING
    window = make_window(SPANS, np.full(length, 1e4), np.full(length, 1e4))
    decoded = decode_example([window], [CONTEXT], everything(handle_impossible_answer=True))
    scores = [a.score for a in decoded.answers]
    assert all(math.isfinite(s) for s in scores)
    assert sum(scores) == pytest.approx(1.0)


# ------------------------------------------------------------------ merging
def test_the_same_text_at_two_places_is_one_answer() -> None:
    context = "Paris is big and Paris is old"
    spans = word_spans(context)
    first, second = context.index("Paris"), context.rindex("Paris")
    for better, expected_start in ((0, first), (4, second)):
        other = 4 - better
        window = make_window(spans, {c(better): 3.0, c(other): 2.0}, {c(better): 3.0, c(other): 2.0})
        decoded = decode_example([window], [context], everything())
        reference = all_spans(window, 30)
        total = sum(math.exp(logit) for _, _, logit in reference)
        expected = (math.exp(6.0) + math.exp(4.0)) / total
        paris = [a for a in decoded.answers if a.text == "Paris"]
        assert len(paris) == 1
        assert paris[0].score == pytest.approx(expected, rel=1e-6)
        assert (paris[0].start, paris[0].end) == (expected_start, expected_start + 5)
        texts = [a.text for a in decoded.answers]
        assert len(texts) == len(set(texts))
        assert sum(a.score for a in decoded.answers) == pytest.approx(1.0)


def test_the_same_span_in_two_overlapping_windows_adds_up() -> None:
    context = "alpha bravo charlie delta echo"
    spans = word_spans(context)
    left = make_window(spans[:3], {c(2): 4.0}, {c(2): 4.0})  # alpha bravo charlie
    right = make_window(spans[2:], {c(0): 4.0}, {c(0): 4.0})  # charlie delta echo
    decoded = decode_example([left, right], [context], everything())
    total = sum(math.exp(logit) for w in (left, right) for _, _, logit in all_spans(w, 30))
    charlie = [a for a in decoded.answers if a.text == "charlie"]
    assert len(charlie) == 1
    assert charlie[0].score == pytest.approx(2 * math.exp(8.0) / total, rel=1e-6)
    assert (charlie[0].start, charlie[0].end) == (12, 19)
    assert sum(a.score for a in decoded.answers) == pytest.approx(1.0)


def test_top_k_answers_are_sorted_and_unique() -> None:
    rng = np.random.default_rng(7)
    context = "the cat saw the cat and the dog saw the cat"
    length = FIRST + len(word_spans(context)) + 1 + PADDING
    window = make_window(word_spans(context), rng.normal(0, 2, length), rng.normal(0, 2, length))
    answers = decode_example([window], [context], DecodeOptions(top_k=8)).answers
    assert len(answers) == 8
    assert len({a.text for a in answers}) == 8
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)


def test_the_best_answer_does_not_depend_on_top_k() -> None:
    # "x" at 30 places (logit 0 each) against one "y" (21.5 times likelier than one "x"): whether "x" wins
    # depends on how many of its places are merged, which must not change with top_k.
    context = "y " + " ".join(["x"] * 30)
    window = make_window(word_spans(context), {c(0): math.log(21.5)})
    best = {
        top_k: decode_example([window], [context], DecodeOptions(top_k=top_k, max_answer_len=1)).answers[0]
        for top_k in (1, 2, 3, 5, 10, 20)
    }
    assert len({(a.text, a.start, a.end) for a in best.values()}) == 1
    assert len({round(a.score, 12) for a in best.values()}) == 1


# ------------------------------------------------------------------ offsets
def test_align_to_words_returns_whole_words() -> None:
    context = "by Lovelace today"
    spans = [(0, 2), (3, 7), (7, 11), (12, 17)]  # by | Love | ##lace | today
    words = [(0, 2), (3, 11), (3, 11), (12, 17)]
    window = make_window(spans, {c(2): 5.0}, {c(2): 5.0}, word_spans_=words)
    (aligned,) = decode_example([window], [context], DecodeOptions(align_to_words=True)).answers
    assert (aligned.text, aligned.start, aligned.end) == ("Lovelace", 3, 11)
    (raw,) = decode_example([window], [context], DecodeOptions(align_to_words=False)).answers
    assert (raw.text, raw.start, raw.end) == ("lace", 7, 11)


def test_answers_are_stripped_of_whitespace_in_token_offsets() -> None:
    context = "in  Paris\t now"
    spans = [(0, 2), (2, 9), (9, 14)]  # offsets that include the spaces before a word (as some tokenizers give)
    window = make_window(spans, {c(1): 5.0}, {c(1): 5.0})
    (answer,) = decode_example([window], [context], DecodeOptions(align_to_words=False)).answers
    assert (answer.text, answer.start, answer.end) == ("Paris", 4, 9)
    assert context[answer.start : answer.end] == answer.text


def test_whitespace_only_spans_are_skipped() -> None:
    context = "a   b"
    spans = [(0, 1), (1, 4), (4, 5)]
    window = make_window(spans, {c(1): 20.0}, {c(1): 20.0})
    answers = decode_example([window], [context], everything(align_to_words=False)).answers
    assert all(a.text.strip() == a.text != "" for a in answers)
    assert "" not in {a.text for a in answers}


# ------------------------------------------------------------------ across windows and contexts
def per_window_favourite_lower_but_global_higher() -> tuple[WindowLogits, WindowLogits, str]:
    # Window A: the favourite span has logit 10 among many close rivals (small per-window share).
    # Window B: one lone span with logit 6, per-window probability 1.0. Globally A's favourite wins.
    context = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo"
    spans = word_spans(context)
    length_a = FIRST + 10 + 1 + PADDING
    start_a, end_a = np.full(length_a, 4.5), np.full(length_a, 4.5)
    start_a[c(3)] = end_a[c(3)] = 5.0  # "delta": 10.0
    window_a = make_window(spans[:10], start_a, end_a)
    window_b = make_window(spans[10:], {c(0): 3.0}, {c(0): 3.0})  # "kilo": 6.0
    return window_a, window_b, context


def test_scores_are_comparable_across_windows_in_any_order() -> None:
    window_a, window_b, context = per_window_favourite_lower_but_global_higher()
    forward = decode_example([window_a, window_b], [context], everything())
    backward = decode_example([window_b, window_a], [context], everything())
    assert forward.answers[0].text == backward.answers[0].text == "delta"
    assert forward.answers[0].score == pytest.approx(backward.answers[0].score)
    assert [a.text for a in forward.answers] == [a.text for a in backward.answers]
    assert forward.answers[0].window_index == 0 and backward.answers[0].window_index == 1
    kilo = next(a for a in forward.answers if a.text == "kilo")
    assert kilo.score < forward.answers[0].score
    assert sum(a.score for a in forward.answers) == pytest.approx(1.0)
    # a per-window softmax would have made "kilo" a certainty
    assert math.exp(6.0) / sum(math.exp(lg) for _, _, lg in all_spans(window_b, 30)) == pytest.approx(1.0)


def test_contexts_are_ranked_together() -> None:
    contexts = ["Ada wrote it", "Bob read it"]
    first = make_window(word_spans(contexts[0]), {c(0): 1.0}, {c(0): 1.0}, context_index=0)
    second = make_window(word_spans(contexts[1]), {c(0): 4.0}, {c(0): 4.0}, context_index=1)
    answers = decode_example([first, second], contexts, everything()).answers
    assert (answers[0].text, answers[0].context_index) == ("Bob", 1)
    assert contexts[answers[0].context_index][answers[0].start : answers[0].end] == "Bob"
    assert {a.context_index for a in answers} == {0, 1}
    for answer in answers:
        assert contexts[answer.context_index][answer.start : answer.end] == answer.text
    assert sum(a.score for a in answers) == pytest.approx(1.0)


def test_the_same_text_in_two_contexts_stays_two_answers() -> None:
    contexts = ["Ada wrote", "Ada read"]
    windows = [
        make_window(word_spans(text), {c(0): 3.0}, {c(0): 3.0}, context_index=i) for i, text in enumerate(contexts)
    ]
    answers = decode_example(windows, contexts, everything()).answers
    ada = [a for a in answers if a.text == "Ada"]
    assert sorted(a.context_index for a in ada) == [0, 1]


@pytest.mark.parametrize("candidates_per_window", [2, 20])
def test_answers_per_context_keeps_each_contexts_best_when_one_context_outscores_the_rest(
    candidates_per_window: int,
) -> None:
    rng = np.random.default_rng(0)
    contexts = [CONTEXT, "kilo lima mike november oscar papa quebec romeo sierra tango"]
    length = FIRST + len(SPANS) + 1 + PADDING
    strong = make_window(SPANS, rng.normal(8.0, 1.0, length), rng.normal(8.0, 1.0, length), context_index=0)
    weak = make_window(
        word_spans(contexts[1]), rng.normal(0.0, 1.0, length), rng.normal(0.0, 1.0, length), context_index=1
    )
    options = DecodeOptions(top_k=7, max_answer_len=30, candidates_per_window=candidates_per_window)
    together = decode_example([strong, weak], contexts, options).answers
    assert {a.context_index for a in together} == {0}  # the strong context fills the list on its own
    per_context = decode_example([strong, weak], contexts, replace(options, answers_per_context=3)).answers
    every = decode_example([strong, weak], contexts, everything(candidates_per_window=candidates_per_window)).answers
    for index in (0, 1):  # each context's 3 best, with the scores they have when all are ranked together
        best_three = [a for a in every if a.context_index == index][:3]
        assert [a for a in per_context if a.context_index == index] == best_three
    assert [a.score for a in per_context] == sorted((a.score for a in per_context), reverse=True)


# ------------------------------------------------------------------ no answer
def reference_no_answer(windows: Sequence[WindowLogits]) -> tuple[float, float]:
    """(P(no answer), sum of span probabilities) with the null logit of the most answer-confident window."""
    null = min(null_logit(w) for w in windows)
    spans = sum(math.exp(logit) for w in windows for _, _, logit in all_spans(w, 30))
    return math.exp(null) / (math.exp(null) + spans), spans / (math.exp(null) + spans)


def test_without_handle_impossible_answer_the_empty_answer_is_never_returned() -> None:
    window = make_window(SPANS, {0: 100.0, c(1): 1.0}, {0: 100.0, c(1): 1.0})
    decoded = decode_example([window], [CONTEXT], everything())
    assert decoded.answers and all(a.text for a in decoded.answers)
    assert decoded.answers[0].text == "bravo"
    assert decoded.no_answer_probability == pytest.approx(1.0)
    assert sum(a.score for a in decoded.answers) == pytest.approx(1.0)
    # null_threshold means nothing without handle_impossible_answer
    answers = decode_example([window], [CONTEXT], everything(null_threshold=0.0)).answers
    assert "" not in {a.text for a in answers}


def test_no_answer_wins_when_it_is_the_most_probable_outcome() -> None:
    window = make_window(SPANS, {0: 8.0, c(1): 1.0}, {0: 8.0, c(1): 1.0})
    decoded = decode_example([window], [CONTEXT], everything(handle_impossible_answer=True))
    expected, _ = reference_no_answer([window])
    best = decoded.answers[0]
    assert (best.text, best.start, best.end) == ("", 0, 0) and best.is_no_answer
    assert best.score == pytest.approx(expected) == pytest.approx(decoded.no_answer_probability)
    assert sum(a.score for a in decoded.answers) == pytest.approx(1.0)
    (only,) = decode_example([window], [CONTEXT], DecodeOptions(handle_impossible_answer=True)).answers
    assert only.is_no_answer


def test_no_answer_ranks_by_its_probability_when_a_span_is_likelier() -> None:
    window = make_window(SPANS, {0: 3.0, c(1): 4.0}, {0: 3.0, c(1): 4.0})
    decoded = decode_example([window], [CONTEXT], everything(handle_impossible_answer=True))
    expected, _ = reference_no_answer([window])
    assert decoded.answers[0].text == "bravo"
    no_answer = [a for a in decoded.answers if a.is_no_answer]
    assert len(no_answer) == 1 and no_answer[0].score == pytest.approx(expected)
    scores = [a.score for a in decoded.answers]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0)
    (best,) = decode_example([window], [CONTEXT], DecodeOptions(handle_impossible_answer=True)).answers
    assert best.text == "bravo"


def test_null_threshold_is_a_probability_cut() -> None:
    window = make_window(SPANS, {0: 3.0, c(1): 4.0}, {0: 3.0, c(1): 4.0})
    p_null, _ = reference_no_answer([window])
    assert 0.05 < p_null < 0.95
    below = decode_example([window], [CONTEXT], everything(handle_impossible_answer=True, null_threshold=p_null - 0.01))
    assert below.answers[0].is_no_answer and below.answers[0].score == pytest.approx(p_null)
    above = decode_example([window], [CONTEXT], everything(handle_impossible_answer=True, null_threshold=p_null + 0.01))
    assert not any(a.is_no_answer for a in above.answers)
    assert above.no_answer_probability == pytest.approx(p_null) == pytest.approx(below.no_answer_probability)
    # threshold 0 always answers "no answer", 1 never does
    zero = decode_example([window], [CONTEXT], DecodeOptions(handle_impossible_answer=True, null_threshold=0.0))
    one = decode_example([window], [CONTEXT], DecodeOptions(handle_impossible_answer=True, null_threshold=1.0))
    assert zero.answers[0].is_no_answer and not one.answers[0].is_no_answer


def test_a_high_threshold_keeps_a_likely_no_answer_out() -> None:
    window = make_window(SPANS, {0: 3.0, c(1): 1.0}, {0: 3.0, c(1): 1.0})
    p_null, _ = reference_no_answer([window])
    assert 0.5 < p_null < 0.9
    plain = decode_example([window], [CONTEXT], DecodeOptions(handle_impossible_answer=True))
    assert plain.answers[0].is_no_answer
    decoded = decode_example([window], [CONTEXT], DecodeOptions(handle_impossible_answer=True, null_threshold=0.9))
    assert decoded.answers[0].text == "bravo"


def test_no_answer_comes_from_the_window_most_confident_in_an_answer() -> None:
    context = "alpha bravo charlie delta echo"
    spans = word_spans(context)
    sure = make_window(spans[:3], {0: 1.0, c(1): 2.0}, {0: 1.0, c(1): 2.0})  # null logit 2
    unsure = make_window(spans[3:], {0: 6.0}, {0: 6.0})  # null logit 12
    for order in ([sure, unsure], [unsure, sure]):
        decoded = decode_example(order, [context], everything(handle_impossible_answer=True))
        expected, _ = reference_no_answer(order)
        assert decoded.no_answer_probability == pytest.approx(expected)
        assert math.exp(2.0) / (
            math.exp(2.0) + sum(math.exp(lg) for w in order for _, _, lg in all_spans(w, 30))
        ) == pytest.approx(expected)
        assert sum(a.score for a in decoded.answers) == pytest.approx(1.0)


# ------------------------------------------------------------------ pointer head
def test_pointer_head_end_logits_are_conditioned_on_the_start() -> None:
    length = FIRST + len(SPANS) + 1 + PADDING
    start = np.zeros(length)
    start[c(0)] = start[c(5)] = 5.0
    end = np.zeros((length, length))
    end[c(0), c(1)] = 4.0  # alpha bravo: 9
    end[c(5), c(6)] = 6.0  # foxtrot golf: 11
    end[c(5), c(2)] = 50.0  # an end before its start: invalid
    end[c(0), 0] = 50.0  # an end on CLS: invalid
    window = make_window(SPANS, start, end)
    decoded = decode_example([window], [CONTEXT], everything())
    assert decoded.answers[0].text == "foxtrot golf"
    reference = all_spans(window, 30)
    total = sum(math.exp(logit) for _, _, logit in reference)
    assert decoded.answers[0].score == pytest.approx(math.exp(11.0) / total)
    assert sum(a.score for a in decoded.answers) == pytest.approx(1.0)
    # read as a linear head, the end of "alpha" would be judged by the same row: a different winner
    linear = make_window(SPANS, start, end.max(axis=0))
    assert decode_example([linear], [CONTEXT], DecodeOptions()).answers[0].text != "foxtrot golf"


def test_pointer_head_null_logit_and_band() -> None:
    length = FIRST + len(SPANS) + 1 + PADDING
    end = np.zeros((length, length))
    end[0, 0] = 7.0
    window = make_window(SPANS, {0: 2.0}, end)
    assert null_logit(window) == pytest.approx(9.0)
    band, ends = span_band(window, 4)
    assert band.shape == ends.shape == (length, 4)
    assert np.isfinite(band[c(0)]).all() and not np.isfinite(band[0]).any()


# ------------------------------------------------------------------ module hygiene
@pytest.mark.slow
def test_decode_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys, spanqa.inference.decode; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, sorted(sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ bounded widening (issue 20)


def test_widening_inside_a_long_run_without_spaces_keeps_the_token_boundary() -> None:
    """A BPE model cuts a 1,000-character "word" into many tokens: an answer of one of them must not
    grow to the whole run (align_to_words widens each end by at most MAX_WIDENING_CHARS)."""
    from spanqa.inference.decode import MAX_WIDENING_CHARS

    context = "start " + "x" * 1000 + " end"
    run = (6, 1006)
    spans = [(0, 5)] + [(6 + 10 * k, 16 + 10 * k) for k in range(100)] + [(1007, 1010)]
    words = [(0, 5)] + [run] * 100 + [(1007, 1010)]
    window = make_window(spans, {c(50): 9.0}, {c(50): 9.0}, word_spans_=words)
    [answer] = decode_example([window], [context], DecodeOptions(top_k=1)).answers
    assert (answer.start, answer.end) == spans[50]
    assert context[answer.start : answer.end] == answer.text
    # near the start of the run, the start may still widen to the run's first character (within the bound)
    window = make_window(spans, {c(3): 9.0}, {c(3): 9.0}, word_spans_=words)
    [answer] = decode_example([window], [context], DecodeOptions(top_k=1)).answers
    assert (answer.start, answer.end) == (6, spans[3][1])
    assert spans[3][0] - answer.start <= MAX_WIDENING_CHARS


def test_a_token_spanning_megabytes_is_no_answer_but_keeps_the_probabilities() -> None:
    """WordPiece makes a 1 MB word one [UNK] token: it is left out of the answers, the others keep their scores."""
    from spanqa.inference.decode import max_answer_chars

    context = "hello " + "a" * 1_000_000 + " world"
    spans = [(0, 5), (6, 1_000_006), (1_000_007, 1_000_012)]
    window = make_window(spans, {c(1): 20.0, c(0): 1.0, c(2): 1.0}, {c(1): 20.0, c(0): 1.0, c(2): 1.0})
    decoded = decode_example([window], [context], DecodeOptions(top_k=5))
    assert decoded.answers and all(len(a.text) <= max_answer_chars(30) for a in decoded.answers)
    assert {a.text for a in decoded.answers} == {"hello", "world"}
    assert sum(a.score for a in decoded.answers) < 0.01  # the [UNK] span kept its share of the softmax
    for answer in decoded.answers:
        assert context[answer.start : answer.end] == answer.text
