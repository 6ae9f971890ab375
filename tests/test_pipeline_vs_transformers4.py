"""spanqa.pipeline against the real thing: transformers 4.57.6's QuestionAnsweringPipeline, same model, same calls.

The old pipeline runs in its own virtual environment (`torch==2.13.0`, then `transformers==4.57.6`),
built once under ~/.cache/spanqa-tests/transformers-4.57.6 and rebuilt when it does not import with
those versions; the test is skipped only when PyPI cannot be reached to build it (any other failure
fails). tests/transformers4_runner.py runs a table of call forms (CASES) there and, in this process,
through spanqa.pipeline, on the shipped default model folder (a standard BertForQuestionAnswering:
transformers 4.57.6 loads it unchanged, its transformers-5 tokenizer_config.json included, as a
BertTokenizerFast; both sides run its weights in fp32, `dtype="float32"`).

For every case: the same outcome (a result, or an error on both sides), the same nesting, keys and
types, and (contexts from tests/fixtures, SQuAD v1.1/v2.0 dev excerpts, that fit in one window) the
same answer texts and offsets: all of them at top_k=1, the best of each question at top_k > 1 (the
lower ranks are sums over merged spans, which the two decoders keep differently). Long, several-window
contexts are compared for shape only.

Scores differ by design. The old score of a span is p_start(i) * p_end(j), softmaxes over one window's
tokens; spanqa's is one softmax over start(i) + end(j) of every valid span (of every window). On one
window, at temperature 1, spanqa's score is the old score divided by the old scores' sum over the valid
spans: the same constant ratio for every answer of a question, which `test_scores_are_the_old_ones_rescaled`
checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from paths import REPO, SQUAD_V1_SMALL, SQUAD_V2_SMALL, TESTS
from transformers4_runner import run_cases

pytestmark = pytest.mark.slow

VENV = Path.home() / ".cache" / "spanqa-tests" / "transformers-4.57.6"
PINS = ("torch==2.13.0", "transformers==4.57.6")  # torch first and pinned: unpinned, pip pulls the CUDA build
MODEL = REPO / "spanqa" / "models" / "default"
FP32 = {"dtype": "float32"}
MAX_SEQ_LEN = 384
SUBWORDS = "Supercalifragilistic"  # six tokens, 21 spans of one word
FEW_WORDS = "The Denver Broncos won."  # 15 spans: fewer than the old pipeline looked at for top_k=20


# ---------------------------------------------------------------------------- the old pipeline's venv
def installed_versions(python: Path) -> tuple[str, str] | None:
    if not python.exists():
        return None
    script = "import torch, transformers; print(torch.__version__.split('+')[0], transformers.__version__)"
    probe = subprocess.run(
        [str(python), "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    versions = probe.stdout.split()
    return (versions[0], versions[1]) if probe.returncode == 0 and len(versions) == 2 else None


def package_index() -> str:
    configured = os.environ.get("PIP_INDEX_URL")
    if not configured:
        asked = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True
        )
        configured = asked.stdout.strip() if asked.returncode == 0 else ""
    return (configured or "https://pypi.org/simple").rstrip("/") + "/"


def skip_when_pypi_is_unreachable(failure: str) -> None:
    index = package_index()
    try:
        with urllib.request.urlopen(index + "transformers/", timeout=20):
            pass
    except (urllib.error.URLError, OSError) as error:
        pytest.skip(f"PyPI ({index}) is unreachable, so the transformers 4.57.6 venv cannot be built: {error}")
    pytest.fail(f"building the transformers 4.57.6 venv in {VENV} failed although PyPI answers:\n{failure}")


def old_pipeline_python() -> Path:
    """The venv's python, (re)building the venv when it lacks the pinned versions."""
    python = VENV / "bin" / "python"
    wanted = tuple(pin.split("==")[1] for pin in PINS)
    if installed_versions(python) == wanted:
        return python
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    for pin in PINS:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", pin], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            skip_when_pypi_is_unreachable(done.stderr[-3000:])
    if installed_versions(python) != wanted:
        pytest.fail(f"the venv in {VENV} was built but does not import {', '.join(PINS)}")
    return python


# ---------------------------------------------------------------------------- the table of call forms
def single_window_pairs(path: Path, impossible: bool | None = None, per_paragraph: int = 3) -> list[dict]:
    """Up to `per_paragraph` {question, context} of each fixture paragraph whose pair fits one window."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    pairs = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            chosen = [
                {"question": qa["question"], "context": paragraph["context"]}
                for qa in paragraph["qas"]
                if impossible is None or qa.get("is_impossible", False) == impossible
            ]
            fitting = [p for p in chosen if len(tokenizer.encode(p["question"], p["context"]).ids) <= MAX_SEQ_LEN]
            pairs += fitting[:per_paragraph]
    return pairs


def long_context() -> str:
    paragraphs = json.loads(SQUAD_V1_SMALL.read_text(encoding="utf-8"))["data"][0]["paragraphs"]
    return " ".join(p["context"] for p in paragraphs)  # about 420 tokens: two windows


@dataclass(frozen=True)
class Case:
    name: str
    # "all" answers, the "best" of each question, the "shape" only, an "error" on both sides, or "differs"
    # (a documented difference, checked by its own test)
    compare: str
    args: tuple = ()
    kwargs: dict | None = None
    pipeline: dict | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "args": list(self.args),
            "kwargs": self.kwargs or {},
            "pipeline": {**FP32, **(self.pipeline or {})},
        }


def build_cases() -> list[Case]:
    pairs = single_window_pairs(SQUAD_V1_SMALL)
    impossible = single_window_pairs(SQUAD_V2_SMALL, impossible=True, per_paragraph=2)
    assert len(pairs) >= 12 and len(impossible) >= 4
    first = pairs[0]
    question, context = first["question"], first["context"]
    same_context = [p["question"] for p in pairs if p["context"] == context]
    squad = [{"__squad__": [p["question"], p["context"]]} for p in pairs[:3]]
    return [
        Case("keywords", "all", kwargs=first),
        Case("dict", "all", args=(first,)),
        Case("two texts", "all", args=(question, context)),
        Case("list of one dict", "all", args=([first],)),
        Case("list of one question", "all", kwargs={"question": [question], "context": context}),
        Case("list of dicts", "all", args=(pairs,)),
        Case("dicts as arguments", "all", args=tuple(pairs[:3])),
        Case("questions of one context", "all", kwargs={"question": same_context, "context": context}),
        Case(
            "questions and contexts",
            "all",
            kwargs={"question": [p["question"] for p in pairs[:4]], "context": [p["context"] for p in pairs[:4]]},
        ),
        Case("squad examples", "all", args=(squad,)),
        Case("list of one squad example", "all", args=(squad[:1],)),
        Case("squad example alone", "differs", args=(squad[0],)),
        Case("generator", "all", args=({"__generator__": pairs[:3]},)),
        Case("empty list", "all", args=([],)),
        Case("batch_size", "all", args=(pairs[:5],), kwargs={"batch_size": 2}),
        Case("top_k 3", "best", kwargs={**first, "top_k": 3}),
        Case("topk 2", "best", kwargs={**first, "topk": 2}),
        Case("top_k 3 on a list", "best", args=(pairs[:3],), kwargs={"top_k": 3}),
        Case("top_k 3, one word", "all", kwargs={"question": question, "context": "Denver", "top_k": 3}),
        Case("top_k 3, one word of six tokens", "all", kwargs={"question": question, "context": SUBWORDS, "top_k": 3}),
        Case("top_k 20, few words", "shape", kwargs={"question": question, "context": FEW_WORDS, "top_k": 20}),
        Case(
            "top_k 3, one word, no answer allowed",
            "all",
            kwargs={"question": question, "context": "Denver", "top_k": 3, "handle_impossible_answer": True},
        ),
        Case("top_k from pipeline()", "best", kwargs=first, pipeline={"top_k": 2}),
        Case("call top_k over pipeline()'s", "all", kwargs={**first, "top_k": 1}, pipeline={"top_k": 2}),
        Case("max_answer_len 3", "all", args=(pairs[:4],), kwargs={"max_answer_len": 3}),
        Case("align_to_words off", "all", args=(pairs[:4],), kwargs={"align_to_words": False}),
        Case("max_seq_len 256", "all", kwargs={**first, "max_seq_len": 256, "doc_stride": 64}),
        Case("max_question_len", "all", kwargs={**first, "max_question_len": 32}),
        Case("padding", "all", kwargs={**first, "padding": "max_length"}),
        Case("device -1", "all", kwargs=first, pipeline={"device": -1}),
        Case("no answer allowed, answerable", "all", args=(pairs[:4],), kwargs={"handle_impossible_answer": True}),
        Case(
            "no answer allowed, unanswerable",
            "best",
            args=(impossible,),
            kwargs={"handle_impossible_answer": True, "top_k": 2},
        ),
        Case("long context", "shape", kwargs={"question": question, "context": long_context()}),
        Case(
            "long context, small windows",
            "shape",
            kwargs={"question": question, "context": long_context(), "max_seq_len": 128, "doc_stride": 32, "top_k": 2},
        ),
        Case("scores top_k 5", "best", kwargs={**first, "top_k": 5}),
        Case("one question, several contexts", "error", kwargs={"question": question, "context": [context, context]}),
        Case("lengths differ", "error", kwargs={"question": [question, question], "context": [context]}),
        Case("no context", "error", kwargs={"question": question}),
        Case("empty question", "error", kwargs={"question": "", "context": context}),
        Case("dict without context", "error", args=({"question": question},)),
        Case("top_k 0", "error", kwargs={**first, "top_k": 0}),
        Case("doc_stride over max_seq_len", "error", kwargs={**first, "doc_stride": 500}),
    ]


@dataclass(frozen=True)
class SquadExampleLike:
    qas_id: None
    question_text: str
    context_text: str


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return build_cases()


@pytest.fixture(scope="module")
def old_report(cases, tmp_path_factory) -> dict:
    python = old_pipeline_python()
    work = tmp_path_factory.mktemp("transformers4")
    (work / "cases.json").write_text(json.dumps([case.to_json() for case in cases]), encoding="utf-8")
    command = [str(python), str(TESTS / "transformers4_runner.py"), "--model", str(MODEL)]
    command += ["--cases", str(work / "cases.json"), "--out", str(work / "results.json")]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    assert done.returncode == 0, f"the transformers 4.57.6 runner failed:\n{done.stderr[-3000:]}"
    return json.loads((work / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def new_results(cases) -> dict:
    import spanqa

    def make_pipeline(**factory):
        return spanqa.pipeline("question-answering", model=MODEL, tokenizer=MODEL, **factory)

    return run_cases(make_pipeline, [case.to_json() for case in cases], lambda q, c: SquadExampleLike(None, q, c))


def shape(value):
    """Nesting, keys (in order) and value types: what code written for the old pipeline relies on."""
    if isinstance(value, dict):
        return [(key, type(item).__name__) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def per_question(result) -> list[list[dict]]:
    """The answers of each question of a case's result (which is one result or a list of them)."""
    if isinstance(result, dict):
        return [[result]]
    if result and all(isinstance(item, dict) for item in result):
        return [result]  # one question, top_k > 1 ... or several questions with one answer each
    return [[item] if isinstance(item, dict) else item for item in result]


def spans(answers: list[dict]) -> list[tuple]:
    return [(a["answer"], a["start"], a["end"]) for a in answers]


# ---------------------------------------------------------------------------- the checks
def test_the_old_side_is_the_real_transformers_4_pipeline(old_report):
    assert old_report["transformers"] == "4.57.6"
    assert old_report["tokenizers"] == ["BertTokenizerFast"]  # the fast path, whose offsets spanqa mirrors


def test_every_call_form_has_the_old_outcome_nesting_keys_and_types(cases, old_report, new_results):
    for case in cases:
        old, new = old_report["results"][case.name], new_results[case.name]
        if case.compare == "error":
            assert "error" in old and "error" in new, (case.name, old, new)
            continue
        if case.compare == "differs":
            continue
        assert "error" not in old and "error" not in new, (case.name, old, new)
        assert new["lazy"] == old["lazy"], case.name
        # shape() of the JSON-carried old result keeps every type that matters: int, float, str, dict, list
        assert shape(new["result"]) == shape(old["result"]), case.name


def test_answers_and_offsets_match_on_single_window_contexts(cases, old_report, new_results):
    for case in cases:
        if case.compare not in ("all", "best"):
            continue
        old = per_question(old_report["results"][case.name]["result"])
        new = per_question(new_results[case.name]["result"])
        assert len(new) == len(old), case.name
        for index, (old_answers, new_answers) in enumerate(zip(old, new, strict=True)):
            if case.compare == "best":
                old_answers, new_answers = old_answers[:1], new_answers[:1]
            assert spans(new_answers) == spans(old_answers), (case.name, index)


def test_a_lone_squad_example_is_answered_where_the_old_pipeline_refused_it(old_report, new_results):
    # A documented difference: the old argument handler took SquadExamples only inside a list.
    assert old_report["results"]["squad example alone"]["error"] == "ValueError"
    answer = new_results["squad example alone"]["result"]
    assert spans([answer]) == spans([old_report["results"]["keywords"]["result"]])


def test_scores_are_the_old_ones_rescaled(old_report):
    """On one window, at temperature 1, spanqa's score / the old score is one constant for every answer."""
    import spanqa

    first = build_cases()[0].kwargs
    reader = spanqa.Reader.load(MODEL, backend="torch", precision="fp32", temperature=1.0)
    new = spanqa.pipeline("question-answering", model=reader)(**first, top_k=5)
    old = {a["answer"]: a["score"] for a in old_report["results"]["scores top_k 5"]["result"]}
    ratios = [answer["score"] / old[answer["answer"]] for answer in new if answer["answer"] in old]
    assert len(ratios) >= 3
    assert all(ratio >= 1 for ratio in ratios)  # spanqa's softmax leaves out the invalid spans
    assert max(ratios) / min(ratios) == pytest.approx(1.0, abs=1e-3)
