"""spanqa.pipeline: the old transformers question-answering pipeline's call forms, output shapes and errors.

Fast: the tiny random model. The same table of forms is checked against the real transformers 4.57.6
pipeline in tests/test_pipeline_vs_transformers4.py (slow).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest

import spanqa
from spanqa import ConfigError, InputError
from spanqa.integrations import transformers_pipeline
from spanqa.integrations.transformers_pipeline import QuestionAnsweringPipeline, pipeline

QUESTION = "Which team won Super Bowl 50?"
CONTEXT = (
    "The American Football Conference (AFC) champion Denver Broncos defeated the National Football "
    "Conference (NFC) champion Carolina Panthers 24–10 to earn their third Super Bowl title."
)
OTHER_QUESTION = "What was the score?"


@dataclass
class SquadExampleLike:
    """What transformers 4.x's SquadExample offered the pipeline."""

    qas_id: str | None
    question_text: str
    context_text: str


@pytest.fixture(scope="module")
def qa(tiny_reader) -> QuestionAnsweringPipeline:
    return pipeline("question-answering", model=tiny_reader)


def is_answer(value, context: str = CONTEXT) -> bool:
    """An old answer dict: its keys in order, their types, and offsets that cut the answer out of the context."""
    return (
        isinstance(value, dict)
        and list(value) == ["score", "start", "end", "answer"]
        and type(value["score"]) is float
        and type(value["start"]) is int
        and type(value["end"]) is int
        and type(value["answer"]) is str
        and context[value["start"] : value["end"]] == value["answer"]
    )


def test_exported_lazily_from_the_package():
    assert spanqa.pipeline is transformers_pipeline.pipeline
    assert "pipeline" in spanqa.__all__


# (call form, expected nesting): "answer" is one dict, "answers" a list of dicts (one question, top_k > 1),
# "results" a list with one result per question.
CALL_FORMS = {
    "keywords": (lambda qa: qa(question=QUESTION, context=CONTEXT), "answer"),
    "dict": (lambda qa: qa({"question": QUESTION, "context": CONTEXT}), "answer"),
    "two texts": (lambda qa: qa(QUESTION, CONTEXT), "answer"),
    "squad example": (lambda qa: qa(SquadExampleLike(None, QUESTION, CONTEXT)), "answer"),
    "list of one dict": (lambda qa: qa([{"question": QUESTION, "context": CONTEXT}]), "answer"),
    "list of one question": (lambda qa: qa(question=[QUESTION], context=CONTEXT), "answer"),
    "list of dicts": (lambda qa: qa([{"question": QUESTION, "context": CONTEXT}] * 2), "results"),
    "tuple of dicts": (lambda qa: qa(({"question": QUESTION, "context": CONTEXT},) * 3), "results"),
    "dicts as arguments": (
        lambda qa: qa({"question": QUESTION, "context": CONTEXT}, {"question": OTHER_QUESTION, "context": CONTEXT}),
        "results",
    ),
    "squad examples": (lambda qa: qa([SquadExampleLike("a", QUESTION, CONTEXT)] * 2), "results"),
    "questions, one context": (lambda qa: qa(question=[QUESTION, OTHER_QUESTION], context=CONTEXT), "results"),
    "questions, contexts": (lambda qa: qa(question=[QUESTION, OTHER_QUESTION], context=[CONTEXT, CONTEXT]), "results"),
    "top_k 3": (lambda qa: qa(question=QUESTION, context=CONTEXT, top_k=3), "answers"),
    "topk 3": (lambda qa: qa(question=QUESTION, context=CONTEXT, topk=3), "answers"),
    "list of one, top_k 3": (lambda qa: qa([{"question": QUESTION, "context": CONTEXT}], top_k=3), "answers"),
    "batch_size": (lambda qa: qa([{"question": QUESTION, "context": CONTEXT}] * 3, batch_size=2), "results"),
}


@pytest.mark.parametrize("form", list(CALL_FORMS))
def test_each_call_form_nests_its_output_as_the_old_pipeline(qa, form):
    call, nesting = CALL_FORMS[form]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # topk's deprecation warning
        result = call(qa)
    if nesting == "answer":
        assert is_answer(result)
    elif nesting == "answers":
        assert isinstance(result, list) and len(result) == 3 and all(is_answer(a) for a in result)
    else:
        assert isinstance(result, list) and len(result) > 1 and all(is_answer(a) for a in result)


def test_every_form_gives_the_same_answer(qa):
    expected = qa(question=QUESTION, context=CONTEXT)
    for form, (call, nesting) in CALL_FORMS.items():
        if nesting == "answer":
            assert call(qa) == expected, form
    assert qa(question=[QUESTION, QUESTION], context=CONTEXT) == [expected, expected]


def test_answers_agree_with_the_reader_with_the_old_defaults(qa, tiny_reader):
    answers = tiny_reader.ask(QUESTION, CONTEXT, top_k=3, max_answer_len=15, null_threshold=None)
    assert qa(question=QUESTION, context=CONTEXT, top_k=3) == [a.to_dict() for a in answers]


def test_top_k_gives_a_dict_when_only_one_answer_exists(qa):
    # One word of six tokens: 21 spans, all the same word. The old pipeline returned a dict even with top_k=3.
    assert is_answer(qa(question="Where?", context="Supercalifragilistic", top_k=3), "Supercalifragilistic")


def test_the_old_empty_filler_answer_when_a_window_has_few_spans(qa):
    # One token, one span: fewer than the old pipeline looked at, which then ended with a score-0 empty answer.
    paris, filler = qa(question="Where?", context="paris", top_k=3)
    assert is_answer(paris, "paris") and paris["answer"] == "paris"
    assert filler == {"score": 0.0, "start": 0, "end": 0, "answer": ""}
    assert is_answer(qa(question="Where?", context="paris"), "paris")  # top_k=1: one answer, no filler
    with_no_answer = qa(question="Where?", context="paris", top_k=3, handle_impossible_answer=True)
    assert len(with_no_answer) == 3 and with_no_answer[-1] == filler


def test_topk_is_the_old_alias_of_top_k(qa):
    with pytest.warns(UserWarning, match="topk parameter is deprecated"):
        aliased = qa(question=QUESTION, context=CONTEXT, topk=2)
    assert aliased == qa(question=QUESTION, context=CONTEXT, top_k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert is_answer(qa(question=QUESTION, context=CONTEXT, topk=3, top_k=1))  # top_k wins, silently


def test_pipeline_arguments_are_call_defaults(tiny_reader):
    qa = pipeline("question-answering", model=tiny_reader, top_k=2, batch_size=4)
    assert len(qa(question=QUESTION, context=CONTEXT)) == 2
    assert is_answer(qa(question=QUESTION, context=CONTEXT, top_k=1))
    with pytest.warns(UserWarning):
        assert len(qa(question=QUESTION, context=CONTEXT, topk=3)) == 3  # the call's alias beats the default


def test_the_old_defaults_apply_whatever_the_model_folder_says(qa):
    settings = qa.settings_for({})
    assert (settings.max_seq_len, settings.doc_stride, settings.max_question_len) == (384, 128, 64)
    assert (settings.max_answer_len, settings.top_k, settings.handle_impossible_answer) == (15, 1, False)
    assert settings.align_to_words is True and settings.null_threshold is None
    assert qa.settings_for({"max_seq_len": 256}).doc_stride == 128
    # max_seq_len=128 worked before (questions were not cut): the question's room shrinks to fit
    short = qa.settings_for({"max_seq_len": 128})
    assert short.doc_stride == 64 and short.max_question_len + short.doc_stride < 128 - 4
    assert is_answer(qa(question=QUESTION, context=CONTEXT, max_seq_len=128))


def test_windowing_and_decoding_arguments_reach_the_reader(qa):
    for settings in ({"doc_stride": 16, "max_seq_len": 48}, {"max_answer_len": 1}, {"align_to_words": False}):
        assert is_answer(qa(question=QUESTION, context=CONTEXT, **settings)), settings
    one_token = qa(question=QUESTION, context=CONTEXT, max_answer_len=1, align_to_words=False, top_k=5)
    assert all(" " not in a["answer"] for a in one_token)


def test_handle_impossible_answer_ranks_the_old_no_answer(qa):
    short = "Denver Broncos won."  # few enough spans for top_k=50 to list them all, the no-answer too
    *answers, filler = qa(question=QUESTION, context=short, handle_impossible_answer=True, top_k=50)
    assert filler == {"score": 0.0, "start": 0, "end": 0, "answer": ""}  # fewer answers than top_k: the old filler
    no_answers = [a for a in answers if a["answer"] == ""]
    assert len(no_answers) == 1 and no_answers[0]["score"] > 0
    assert no_answers[0] == {"score": no_answers[0]["score"], "start": 0, "end": 0, "answer": ""}
    assert type(no_answers[0]["score"]) is float
    assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
    *without, filler = qa(question=QUESTION, context=short, top_k=50)
    assert all(a["answer"] for a in without) and len(without) == len(answers) - 1


def test_batch_size_does_not_change_answers(qa):
    inputs = [{"question": q, "context": CONTEXT} for q in (QUESTION, OTHER_QUESTION, "Who lost?", "When?")]
    assert qa(inputs, batch_size=1) == qa(inputs, batch_size=32) == qa(inputs)


def test_a_generator_is_answered_lazily(qa):
    taken = []

    def items():
        for question in (QUESTION, OTHER_QUESTION, "Who lost?"):
            taken.append(question)
            yield {"question": question, "context": CONTEXT}

    results = qa(items(), batch_size=2)
    assert taken == [] and not isinstance(results, list | dict)
    first = next(results)
    assert is_answer(first) and taken == [QUESTION, OTHER_QUESTION]
    assert [first, *results] == qa(question=[QUESTION, OTHER_QUESTION, "Who lost?"], context=CONTEXT)


def test_an_empty_list_gives_an_empty_list(qa):
    assert qa([]) == []
    assert qa(question=[], context=CONTEXT) == []


def test_the_deprecated_x_and_data_keywords(qa):
    expected = qa(question=QUESTION, context=CONTEXT)
    for keyword in ("X", "data"):
        with pytest.warns(FutureWarning, match=keyword):
            assert qa(**{keyword: [{"question": QUESTION, "context": CONTEXT}]}) == expected


HARMLESS = [
    {"device": -1},
    {"device": "cpu"},
    {"device": None},
    {"framework": "pt"},
    {"padding": "max_length"},
    {"padding": "do_not_pad"},
    {"num_workers": 2},
]


@pytest.mark.parametrize("argument", HARMLESS, ids=lambda a: f"{next(iter(a))}={next(iter(a.values()))!r}")
def test_harmless_old_arguments_are_accepted(qa, tiny_reader, argument):
    assert qa(question=QUESTION, context=CONTEXT, **argument) == qa(question=QUESTION, context=CONTEXT)
    assert isinstance(pipeline("question-answering", model=tiny_reader, **argument), QuestionAnsweringPipeline)


def test_harmless_loading_arguments_are_accepted(tiny_model_dir):
    qa = pipeline(
        "question-answering",
        model=str(tiny_model_dir),
        tokenizer=tiny_model_dir,
        device=-1,
        framework="pt",
        use_fast=True,
        trust_remote_code=False,
        revision="main",
        torch_dtype="float32",
        model_kwargs={},
    )
    assert qa.reader.runtime.precision == "fp32"
    assert is_answer(qa(question=QUESTION, context=CONTEXT))
    # dtype "auto" (the old default) leaves the choice to spanqa, so it goes with a loaded Reader too
    assert isinstance(pipeline("question-answering", model=qa.reader, dtype="auto"), QuestionAnsweringPipeline)


BAD_CALLS = {
    "unknown keyword": (lambda qa: qa(question=QUESTION, context=CONTEXT, top_n=3), InputError, "'top_n'"),
    "gpu device": (lambda qa: qa(question=QUESTION, context=CONTEXT, device=0), InputError, "device=0"),
    "tensorflow": (lambda qa: qa(question=QUESTION, context=CONTEXT, framework="tf"), InputError, "framework='tf'"),
    "bad padding": (lambda qa: qa(question=QUESTION, context=CONTEXT, padding="sideways"), InputError, "padding="),
    "one question, contexts": (lambda qa: qa(question=QUESTION, context=[CONTEXT, CONTEXT]), InputError, "Reader.ask"),
    "lengths differ": (lambda qa: qa(question=[QUESTION, QUESTION], context=[CONTEXT]), InputError, "2 questions"),
    "no context": (lambda qa: qa(question=QUESTION), InputError, "context= is missing"),
    "no input": (lambda qa: qa(), InputError, "no input"),
    "empty question": (lambda qa: qa(question="", context=CONTEXT), InputError, "`question` cannot be empty"),
    "blank context": (lambda qa: qa(question=QUESTION, context="  "), InputError, "`context` cannot be empty"),
    "None question": (lambda qa: qa({"question": None, "context": CONTEXT}), InputError, "cannot be None"),
    "dict without context": (lambda qa: qa({"question": QUESTION}), InputError, "no 'context' key"),
    "dict with extra key": (lambda qa: qa({"question": QUESTION, "context": CONTEXT, "id": 3}), InputError, "'id'"),
    "a text alone": (lambda qa: qa(QUESTION), InputError, "from a str"),
    "three texts": (lambda qa: qa("a", "b", "c"), InputError, "input 0 is a str"),
    "a number": (lambda qa: qa(3), InputError, "from a int"),
    "top_k 0": (lambda qa: qa(question=QUESTION, context=CONTEXT, top_k=0), ConfigError, "top_k"),
    "max_answer_len 0": (lambda qa: qa(question=QUESTION, context=CONTEXT, max_answer_len=0), ConfigError, "max_ans"),
    "doc_stride too big": (
        lambda qa: qa(question=QUESTION, context=CONTEXT, doc_stride=400),
        ConfigError,
        "doc_stride",
    ),
    "not a bool": (
        lambda qa: qa(question=QUESTION, context=CONTEXT, handle_impossible_answer="yes"),
        InputError,
        "handle_impossible_answer",
    ),
    "batch_size 0": (lambda qa: qa(question=QUESTION, context=CONTEXT, batch_size=0), InputError, "batch_size"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_calls_raise_one_clear_error(qa, case):
    call, error, message = BAD_CALLS[case]
    with pytest.raises(error, match=message.replace("(", r"\(").replace("?", r"\?")):
        call(qa)
    assert issubclass(error, ValueError)  # what the old pipeline raised for most bad input


def test_bad_pipeline_arguments_raise_one_clear_error(tiny_reader, tiny_model_dir):
    cases = [
        ({"task": "text-classification", "model": tiny_reader}, "'text-classification'"),
        ({"task": None, "model": tiny_reader}, "None"),
        ({"model": tiny_reader, "tokenizer": "bert-base-uncased"}, "tokenizer="),
        ({"model": str(tiny_model_dir), "tokenizer": "bert-base-uncased"}, "tokenizer="),
        ({"model": object()}, "model= is a object"),
        ({"model": tiny_reader, "backend": "torch"}, "backend"),
        ({"model": tiny_reader, "torch_dtype": "float32"}, "precision"),
        ({"model": tiny_reader, "precision": "fp32", "dtype": "auto"}, "precision"),
        ({"model": str(tiny_model_dir), "torch_dtype": "float16"}, "float16"),
        ({"model": str(tiny_model_dir), "dtype": "float32", "precision": "bf16"}, "different precisions"),
        ({"model": tiny_reader, "config": "config.json"}, "config="),
        ({"model": tiny_reader, "device_map": "auto"}, "device_map="),
        ({"model": tiny_reader, "trust_remote_code": True}, "trust_remote_code="),
        ({"model": tiny_reader, "top_k": 0}, "top_k"),
        ({"model": tiny_reader, "max_answer_length": 10}, "'max_answer_length'"),
    ]
    for arguments, message in cases:
        arguments = {"task": "question-answering", **arguments}
        with pytest.raises(ValueError, match=message):
            pipeline(**arguments)


@pytest.mark.quality
def test_the_default_model_by_name_answers():
    for qa in (pipeline("question-answering", model="default"), pipeline("question-answering")):
        answer = qa(question="What team was the AFC champion?", context=CONTEXT)  # README's sample
        assert is_answer(answer) and answer["answer"] == "Denver Broncos"
