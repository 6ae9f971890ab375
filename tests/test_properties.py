"""Property tests: whatever real-world text comes in, answers are exact, stripped spans of it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from spanqa.inference.features import truncate_questions
from spanqa.inference.reader import Reader

ATOMS = [
    "Ada", "Lovelace", "wrote", "the", "first", "program", "in", "1843", "3.14", "U.S.A.", "don't", "e-mail",
    "café", "naïve", "Zürich", "São", "Paulo", "Ångström", "façade", "Ελλάδα", "Москва", "עברית", "العربية",
    "東京", "北京大学", "日本語のテキスト", "한국어", "ไทย",
    "😀", "👩‍👩‍👧", "🇫🇷", "✓", "→", "€100", "½",
    "“quoted”", "‘single’", "«guillemets»", "—", "–", "…", "(parens)", "[1]", "#tag", "@user",
    "e\u0301", "a\u0308", "n\u0303o", "\u0301",  # combining marks, one of them with no base letter
    "zero\u200bwidth", "\u200b", "\u200d", "\ufeff", "soft\u00adhyphen", "\u2060",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", " \t ", "\u00a0", "\u3000", ""]

atoms = st.one_of(
    st.sampled_from(ATOMS),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6),
)


@st.composite
def texts(draw, max_atoms: int) -> str:
    parts = draw(st.lists(st.tuples(atoms, st.sampled_from(SEPARATORS)), min_size=1, max_size=max_atoms))
    leading = draw(st.sampled_from(["", " ", "  ", "\n", "\t ", "\u200b"]))
    trailing = draw(st.sampled_from(["", " ", "\n", "  \t"]))
    return leading + "".join(atom + separator for atom, separator in parts) + trailing


contexts = texts(max_atoms=60).filter(lambda text: text.strip())
questions = texts(max_atoms=8).filter(lambda text: text.strip())
window_settings = st.sampled_from(
    [
        {},
        {"max_seq_len": 48, "doc_stride": 8, "max_question_len": 12},
        {"max_seq_len": 64, "doc_stride": 0, "max_question_len": 16, "max_answer_len": 5},
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    question=questions,
    context=contexts,
    top_k=st.integers(1, 6),
    align_to_words=st.booleans(),
    handle_impossible_answer=st.booleans(),
    windows=window_settings,
)
def test_answers_are_exact_stripped_spans_with_sorted_probabilities(
    tiny_reader: Reader,
    question: str,
    context: str,
    top_k: int,
    align_to_words: bool,
    handle_impossible_answer: bool,
    windows: dict,
) -> None:
    answers = tiny_reader.ask(
        question,
        context,
        top_k=top_k,
        align_to_words=align_to_words,
        handle_impossible_answer=handle_impossible_answer,
        **windows,
    )
    assert isinstance(answers, list) and len(answers) <= top_k
    texts_seen = set()
    for answer in answers:
        assert 0.0 <= answer.score <= 1.0
        if answer.is_no_answer:
            assert handle_impossible_answer
            continue
        assert context[answer.start : answer.end] == answer.text
        assert answer.text and answer.text == answer.text.strip()
        assert 0 <= answer.start < answer.end <= len(context)
        assert answer.text not in texts_seen
        texts_seen.add(answer.text)
    scores = [a.score for a in answers]
    assert scores == sorted(scores, reverse=True)
    if not handle_impossible_answer and any(not ch.isspace() and ch.isprintable() for ch in context):
        # a context with any visible character has at least one token, hence an answer
        assert answers or not tiny_reader.tokenizer.tokenize(context)


@settings(max_examples=60, deadline=None)
@given(question=questions, max_question_len=st.integers(1, 10))
def test_truncated_questions_are_prefixes_within_the_token_limit(
    tiny_reader: Reader, question: str, max_question_len: int
) -> None:
    tokenizer = tiny_reader.tokenizer
    (truncated,) = truncate_questions(tokenizer, [question], max_question_len)
    assert question.strip().startswith(truncated)
    assert len(tokenizer(truncated, add_special_tokens=False)["input_ids"]) <= max_question_len
