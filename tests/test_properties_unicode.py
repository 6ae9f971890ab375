"""Property tests on hostile unicode (issue 20): windows, decoding and the reader keep their promises.

Texts mix right-to-left scripts, emoji sequences, combining marks with and without a base, NUL and
other control characters, bidi controls, lone surrogates, whitespace runs and runs without spaces far
longer than a word. Promises: every answer is `context[start:end]`, stripped and bounded in length;
scores lie in [0, 1], best first; P(no answer) lies in [0, 1]; text that is not valid Unicode is
refused with an InputError, nothing else. Seeds are fixed (`derandomize=True`), examples bounded.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanqa.errors import InputError
from spanqa.inference.decode import DecodeOptions, decode_example, max_answer_chars
from spanqa.inference.features import encode_windows
from spanqa.inference.inputs import check_text
from spanqa.inference.pipeline import window_logits
from spanqa.inference.reader import Reader
from spanqa.settings import ReaderSettings

HOSTILE = [
    "שלום", "עולם", "مرحبا", "بالعالم", "\u202e", "\u202c", "\u2067", "\u2069", "\u200f", "\u200e",  # RTL, bidi
    "😀", "👩‍👩‍👧", "🇫🇷", "👍🏽", "🏳️‍🌈", "1️⃣",  # emoji sequences
    "e\u0301", "\u0301", "\u0301\u0302\u0303", "a\u0308\u0301", "\u20dd",  # combining marks, some without base
    "\x00", "\x01", "\x07", "\x1b[0m", "\x7f", "\x85", "\x0b", "\x0c", "\r",  # NUL and control characters
    "\ufeff", "\u200b", "\u2028", "\u2029", "\ufffd", "\U0010ffff",  # BOM, zero width, separators, replacement
    "Ada", "Lovelace", "1843", "U.S.A.", "don't", "!!!", "...", "—",
]  # fmt: skip
SEPARATORS = ["", " ", "  ", "\t", "\n", "\n\n", "\u00a0", "\u3000", " \t \n "]
LONG_RUNS = st.builds(lambda char, n: char * n, st.sampled_from(["a", "x", "é", "9", "ab"]), st.integers(90, 1200))

atoms = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=5),
    st.text(st.characters(categories=("Cc", "Cf", "Mn", "Zs", "So", "Po")), min_size=1, max_size=4),
    LONG_RUNS,
)


@st.composite
def texts(draw, max_atoms: int) -> str:
    parts = draw(st.lists(st.tuples(atoms, st.sampled_from(SEPARATORS)), min_size=1, max_size=max_atoms))
    return "".join(atom + separator for atom, separator in parts)


contexts = texts(max_atoms=30)
questions = texts(max_atoms=6)
SMALL_WINDOWS = ReaderSettings(max_seq_len=48, doc_stride=8, max_question_len=12, max_answer_len=6)
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def is_valid_unicode(text: str) -> bool:
    return not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


@FUZZ
@given(text=st.one_of(texts(max_atoms=8), st.text(st.characters(categories=("Cs", "Zs", "Cc")), max_size=6)))
def test_check_text_accepts_valid_unicode_and_refuses_the_rest_with_an_input_error(text: str) -> None:
    expected_ok = bool(text.strip()) and is_valid_unicode(text)
    try:
        assert check_text(text, "context") is text
        ok = True
    except InputError as error:
        ok = False
        assert str(error).startswith("context ")
    assert ok == expected_ok


@FUZZ
@given(question=questions.filter(str.strip), context=contexts.filter(str.strip))
def test_window_offsets_point_inside_the_context_and_words_hold_their_tokens(
    tiny_reader: Reader, question: str, context: str
) -> None:
    windows = encode_windows(tiny_reader.tokenizer, [question], [context], SMALL_WINDOWS)
    assert windows
    for window in windows:
        assert window.length <= SMALL_WINDOWS.max_seq_len
        spans = window.offsets[window.context_mask]
        words = window.word_offsets[window.context_mask]
        assert np.all((spans[:, 0] >= 0) & (spans[:, 0] <= spans[:, 1]) & (spans[:, 1] <= len(context)))
        assert np.all((words[:, 0] <= spans[:, 0]) & (spans[:, 1] <= words[:, 1]))
        assert np.all(np.diff(spans[:, 0]) >= 0)  # context tokens come in text order


@FUZZ
@given(
    question=questions.filter(str.strip),
    context=contexts.filter(str.strip),
    seed=st.integers(0, 2**16),
    top_k=st.integers(1, 8),
    align_to_words=st.booleans(),
    handle_impossible_answer=st.booleans(),
    logit_scale=st.sampled_from([1.0, 30.0, 1e4]),
)
def test_decoding_random_logits_over_real_windows_gives_exact_bounded_sorted_answers(
    tiny_reader: Reader,
    question: str,
    context: str,
    seed: int,
    top_k: int,
    align_to_words: bool,
    handle_impossible_answer: bool,
    logit_scale: float,
) -> None:
    rng = np.random.default_rng(seed)
    windows = encode_windows(tiny_reader.tokenizer, [question], [context], SMALL_WINDOWS)
    per_window = [
        window_logits(w, (rng.normal(size=w.length) * logit_scale, rng.normal(size=w.length) * logit_scale))
        for w in windows
    ]
    options = DecodeOptions(
        top_k=top_k,
        max_answer_len=SMALL_WINDOWS.max_answer_len,
        align_to_words=align_to_words,
        handle_impossible_answer=handle_impossible_answer,
    )
    decoded = decode_example(per_window, [context], options)
    assert 0.0 <= decoded.no_answer_probability <= 1.0
    assert len(decoded.answers) <= top_k
    for answer in decoded.answers:
        assert 0.0 <= answer.score <= 1.0
        if answer.is_no_answer:
            assert handle_impossible_answer
            continue
        assert context[answer.start : answer.end] == answer.text
        assert answer.text == answer.text.strip() and answer.start < answer.end
        assert answer.end - answer.start <= max_answer_chars(SMALL_WINDOWS.max_answer_len)
    scores = [a.score for a in decoded.answers]
    assert scores == sorted(scores, reverse=True)


@FUZZ
@given(
    question=st.one_of(questions, st.just("Who\ud800?")),
    context=st.one_of(contexts, st.builds(lambda t: t + "\udc00", contexts)),
    handle_impossible_answer=st.booleans(),
)
def test_the_reader_answers_any_valid_text_exactly_and_refuses_invalid_text(
    tiny_reader: Reader, question: str, context: str, handle_impossible_answer: bool
) -> None:
    valid = all(text.strip() and is_valid_unicode(text) for text in (question, context))
    try:
        [prediction] = tiny_reader.predict(
            [(question, context)], top_k=5, handle_impossible_answer=handle_impossible_answer, max_seq_len=64,
            doc_stride=16, max_question_len=16,
        )  # fmt: skip
    except InputError:
        assert not valid
        return
    assert valid
    assert 0.0 <= prediction.no_answer_probability <= 1.0
    scores = [a.score for a in prediction.answers]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    for answer in prediction.answers:
        assert context[answer.start : answer.end] == answer.text
        if not answer.is_no_answer:
            assert answer.end - answer.start <= max_answer_chars(30)
