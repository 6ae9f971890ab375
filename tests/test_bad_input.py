"""The bad-input matrix (issue 20): careless or hostile input at every interface, each case's exact outcome.

Three interfaces: the command line (one `error: ...` line, exit 2, no traceback, nothing half-written),
the Python API (`Reader` with the tiny random model: one SpanQAError naming the problem), and HTTP
(`create_app` under TestClient: a 4xx whose body names the field). Inputs that are not mistakes (a
byte order mark, NUL and control characters, right-to-left text, emoji, a 1 MB "word") have a
documented correct result instead: answers that are exact spans of the text the user gave.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from cli_helpers import assert_one_error_line, run_main
from fastapi.testclient import TestClient
from paths import SQUAD_V2_SMALL, question_ids

from spanqa.errors import ConfigError, DataFileError, IgnoredInputWarning, InputError, SpanQAError
from spanqa.inference.decode import max_answer_chars
from spanqa.inference.reader import Reader
from spanqa.types import Answer

QUESTION = "Who built the tower?"
CONTEXT = "The Eiffel Tower was built by Gustave Eiffel in Paris. It opened in 1889."
BOM = "\ufeff"
MEGA_WORD = "a" * 999_000  # a 1 MB "word" that fits under the default max_context_chars of 1,000,000
# Texts that are not mistakes, each with a documented correct result (exact spans or no answer).
ODD_TEXTS = {
    "nul characters": "Ada\x00Lovelace wrote\x00 the first program\x00.",
    "control characters": "Ada\x01 Lovelace\x07 wrote\x1b[31m the\x7f first\x0c program.",
    "right-to-left": "עדה לאבלייס כתבה את התוכנית הראשונה. كتبت آدا أول برنامج.",
    "bidi controls": "\u202eAda Lovelace\u202c wrote \u2067the first\u2069 program.",
    "only punctuation": "!!! ??? ... ,,, ;;; --- ((( )))",
    "only emoji": "😀 👩‍👩‍👧 🇫🇷 ✓ 😀😀😀",
    "combining marks": "e\u0301te\u0301 a\u0308\u0301 n\u0303o \u0301\u0301\u0301 cafe\u0301",
    "whitespace runs": "Ada   \t\t Lovelace \n\n\n wrote\u3000\u3000the\u00a0\u00a0program",
    "zero width only": "\u200b\u200c\u200d\u2060",
    "nul only": "\x00\x00\x00",
    "mega word": MEGA_WORD,
    "mega word between words": "Paris " + MEGA_WORD + " London",
}


def assert_exact_answers(answers: Sequence[Answer] | Sequence[dict], context: str, top_k: int = 5) -> None:
    """The documented result for any text: exact, stripped, bounded spans, scores in [0, 1], best first."""
    assert len(answers) <= top_k
    scores = []
    for answer in answers:
        item = answer if isinstance(answer, dict) else answer.to_dict()
        text, start, end = item["answer"], item["start"], item["end"]
        assert context[start:end] == text
        if text:
            assert text == text.strip() and 0 <= start < end <= len(context)
            assert end - start <= max_answer_chars(30)
        assert 0.0 <= item["score"] <= 1.0
        scores.append(item["score"])
    assert scores == sorted(scores, reverse=True)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def write_json(path: Path, payload: Any) -> Path:
    return write(path, json.dumps(payload, ensure_ascii=False))


# ====================================================================== model folders


@pytest.fixture(scope="module")
def bad_models(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Broken copies of the tiny model folder, one per way a folder breaks."""
    root = tmp_path_factory.mktemp("bad-models")

    def copy(name: str, remove: Sequence[str] = (), change: Callable[[Path], None] | None = None) -> Path:
        folder = root / name
        shutil.copytree(tiny_model_dir, folder)
        for file in remove:
            (folder / file).unlink()
        if change is not None:
            change(folder)
        return folder

    def truncate(file: str) -> Callable[[Path], None]:
        def cut(folder: Path) -> None:
            data = (folder / file).read_bytes()
            (folder / file).write_bytes(data[: len(data) // 3])

        return cut

    def corrupt_onnx(folder: Path) -> None:
        (folder / "model.safetensors").unlink()
        (folder / "model.onnx").write_bytes(b"\x08\x07garbage, not a protobuf" * 10)

    return {
        "missing": root / "does-not-exist",
        "no config": copy("no-config", ["config.json"]),
        "no weights": copy("no-weights", ["model.safetensors"]),
        "no tokenizer": copy("no-tokenizer", ["tokenizer.json", "tokenizer_config.json"]),
        "truncated safetensors": copy("truncated", change=truncate("model.safetensors")),
        "config not json": copy("config-not-json", change=lambda f: write(f / "config.json", "{not json")),
        "config a list": copy("config-list", change=lambda f: write(f / "config.json", "[1, 2]")),
        "spanqa.json not json": copy("spanqa-not-json", change=lambda f: write(f / "spanqa.json", "{oops")),
        "spanqa.json bad setting": copy(
            "spanqa-bad", change=lambda f: write_json(f / "spanqa.json", {"reader": {"max_answer_len": 0}})
        ),
        "corrupt onnx": copy("corrupt-onnx", change=corrupt_onnx),
        "a file": write(root / "model.txt", "not a folder"),
    }


MODEL_CASES = {
    "missing": "does not exist: check the path",
    "no config": "has no config.json",
    "no weights": "has no weights",
    "no tokenizer": "has no tokenizer vocabulary",
    "truncated safetensors": "are truncated or corrupt",
    "config not json": "config.json is not valid JSON",
    "config a list": "config.json should hold a JSON object",
    "spanqa.json not json": "spanqa.json is not valid JSON",
    "spanqa.json bad setting": "max_answer_len must be a positive integer",
    "corrupt onnx": "cannot load the ONNX model",
    "a file": "is a file",
}


@pytest.mark.parametrize("case", MODEL_CASES)
def test_cli_broken_model_folder(case: str, bad_models, monkeypatch, capsys) -> None:
    code, out, err = run_main(
        monkeypatch, capsys, "ask", "-q", QUESTION, "-c", CONTEXT, "--model", str(bad_models[case])
    )
    line = assert_one_error_line(code, err, MODEL_CASES[case])
    assert str(bad_models[case]) in line and out == ""


@pytest.mark.parametrize("case", ["truncated safetensors", "no tokenizer", "config not json", "corrupt onnx"])
def test_api_broken_model_folder(case: str, bad_models) -> None:
    from spanqa.errors import ModelFolderError

    with pytest.raises(ModelFolderError, match=MODEL_CASES[case]):
        Reader.load(bad_models[case])


# ====================================================================== CLI: ask


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ask-files")
    return {
        "latin-1": write(root / "latin1.txt", "Zürich est une ville café".encode("latin-1")),
        "invalid utf-8": write(root / "invalid.txt", b"The tower \xff\xfe was built \xc3 in Paris."),
        "encoded surrogate": write(root / "surrogate.txt", b"abc \xed\xa0\x80 def"),  # U+D800 as UTF-8 bytes
        "utf-16": write(root / "utf16.txt", CONTEXT.encode("utf-16")),
        "empty": write(root / "empty.txt", ""),
        "whitespace": write(root / "blank.txt", " \n\t\n   \r\n"),
        "bom only": write(root / "bom.txt", BOM.encode("utf-8")),
        "bom and whitespace": write(root / "bom-blank.txt", (BOM + "  \n").encode("utf-8")),
        "folder": root,
        "missing": root / "nope.txt",
    }


ASK_FILE_ERRORS = {
    "latin-1": "is not UTF-8 text (invalid",
    "invalid utf-8": "is not UTF-8 text (invalid start byte at byte 10): save it as UTF-8",
    "encoded surrogate": "is not UTF-8 text",
    "utf-16": "is not UTF-8 text",
    "empty": "context is empty",
    "whitespace": "context is empty",
    "bom only": "context is empty",
    "bom and whitespace": "context is empty",
    "folder": "is a folder, not a text file",
    "missing": "does not exist: check the path",
}


@pytest.mark.parametrize("case", ASK_FILE_ERRORS)
def test_cli_ask_context_file_errors(case: str, files, tiny_model_dir, monkeypatch, capsys) -> None:
    args = ["ask", "-q", QUESTION, "--context-file", str(files[case]), "--model", str(tiny_model_dir)]
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert_one_error_line(code, err, ASK_FILE_ERRORS[case])
    assert out == ""


ASK_ARGUMENT_ERRORS = {
    "empty question": (["-q", "", "-c", CONTEXT], "question is empty"),
    "whitespace question": (["-q", " \t\n ", "-c", CONTEXT], "question is empty"),
    "empty context": (["-q", QUESTION, "-c", ""], "context is empty"),
    "whitespace context": (["-q", QUESTION, "-c", "\u3000 \u00a0\n"], "context is empty"),
    "context over the limit": (["-q", QUESTION, "-c", "x" * 1_000_001], "over the limit of 1,000,000"),
    "context over a given limit": (
        ["-q", QUESTION, "-c", CONTEXT, "--max-context-chars", "10"],
        f"context has {len(CONTEXT)} characters, over the limit of 10",
    ),
    "context and context file": (["-q", QUESTION, "-c", CONTEXT, "--context-file", "x.txt"], "not both"),
    "top-k zero": (["-q", QUESTION, "-c", CONTEXT, "--top-k", "0"], "--top-k must be at least 1"),
    "max answer len zero": (["-q", QUESTION, "-c", CONTEXT, "--max-answer-len", "0"], "max_answer_len must be"),
    "stride over window": (
        ["-q", QUESTION, "-c", CONTEXT, "--max-seq-len", "64", "--doc-stride", "64"],
        "doc_stride (64) must be smaller than max_seq_len (64)",
    ),
    "question room": (
        ["-q", QUESTION, "-c", CONTEXT, "--max-seq-len", "64", "--max-question-len", "60", "--doc-stride", "8"],
        "lower max_question_len or doc_stride",
    ),
    "unknown backend": (["-q", QUESTION, "-c", CONTEXT, "--backend", "tpu"], "backend must be one of"),
    "int8 on torch": (["-q", QUESTION, "-c", CONTEXT, "--backend", "torch", "--precision", "int8"], "needs --backend"),
}


@pytest.mark.parametrize("case", ASK_ARGUMENT_ERRORS)
def test_cli_ask_argument_errors(case: str, tiny_model_dir, monkeypatch, capsys) -> None:
    args, message = ASK_ARGUMENT_ERRORS[case]
    code, out, err = run_main(monkeypatch, capsys, "ask", *args, "--model", str(tiny_model_dir))
    assert_one_error_line(code, err, message)
    assert out == ""


def test_cli_ask_a_wrong_type_is_a_usage_error(tiny_model_dir, monkeypatch, capsys) -> None:
    code, out, err = run_main(monkeypatch, capsys, "ask", "-q", QUESTION, "-c", CONTEXT, "--top-k", "three")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "Error: Invalid value for '--top-k': Input should be a valid integer" in err


def _ask_json(monkeypatch, capsys, model: Path, *args: str, stdin=None) -> list[dict]:
    code, out, err = run_main(
        monkeypatch, capsys, "ask", "-q", QUESTION, "--json", "--top-k", "5", *args, "--model", str(model), stdin=stdin
    )
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_cli_a_byte_order_mark_is_no_part_of_the_context(source, tiny_model_dir, tmp_path, monkeypatch, capsys):
    """A file saved with a BOM answers exactly as the same text without it: offsets do not count the BOM."""
    import io

    expected = _ask_json(monkeypatch, capsys, tiny_model_dir, "-c", CONTEXT)
    if source == "file":
        path = write(tmp_path / "bom.txt", (BOM + CONTEXT).encode("utf-8"))
        got = _ask_json(monkeypatch, capsys, tiny_model_dir, "--context-file", str(path))
    else:
        got = _ask_json(monkeypatch, capsys, tiny_model_dir, stdin=io.StringIO(BOM + CONTEXT))
    assert got == expected
    assert_exact_answers(got, CONTEXT)


@pytest.mark.parametrize(
    "case", ["nul characters", "control characters", "right-to-left", "only emoji", "mega word between words"]
)
def test_cli_odd_text_files_give_exact_answers(case, tiny_model_dir, tmp_path, monkeypatch, capsys) -> None:
    text = ODD_TEXTS[case]
    path = write(tmp_path / "context.txt", text)
    answers = _ask_json(monkeypatch, capsys, tiny_model_dir, "--context-file", str(path))
    assert_exact_answers(answers, text)


def test_cli_a_context_without_tokens_says_no_answer(tiny_model_dir, monkeypatch, capsys) -> None:
    code, out, err = run_main(
        monkeypatch, capsys, "ask", "-q", QUESTION, "-c", ODD_TEXTS["zero width only"], "--model", str(tiny_model_dir)
    )
    assert code == 0 and err == ""
    assert out.startswith("no answer found")


# ====================================================================== Python API


API_ERRORS: dict[str, tuple[Callable[[Reader], Any], type[SpanQAError], str]] = {
    "question None": (lambda r: r.ask(None, CONTEXT), InputError, "question must be text, got NoneType"),
    "question int": (lambda r: r.ask(42, CONTEXT), InputError, "question must be text, got int"),
    "question bytes": (lambda r: r.ask(b"Who?", CONTEXT), InputError, "question must be text, got bytes"),
    "question empty": (lambda r: r.ask("", CONTEXT), InputError, "question is empty"),
    "question whitespace": (lambda r: r.ask(" \n\t\u00a0", CONTEXT), InputError, "question is empty"),
    "question lone surrogate": (
        lambda r: r.ask("Who\ud800?", CONTEXT),
        InputError,
        "question holds a lone surrogate (U+D800) at character 3",
    ),
    "context None": (lambda r: r.ask(QUESTION, None), InputError, "context must be text or a list of texts"),
    "context bytes": (lambda r: r.ask(QUESTION, CONTEXT.encode()), InputError, "got bytes"),
    "context dict": (lambda r: r.ask(QUESTION, {"text": CONTEXT}), InputError, "got dict"),
    "context empty list": (lambda r: r.ask(QUESTION, []), InputError, "give at least one context"),
    "context list with a number": (lambda r: r.ask(QUESTION, [CONTEXT, 7]), InputError, "context must be text"),
    "context empty": (lambda r: r.ask(QUESTION, ""), InputError, "context is empty"),
    "context whitespace": (lambda r: r.ask(QUESTION, "\n \t \r\n"), InputError, "context is empty"),
    "context huge": (lambda r: r.ask(QUESTION, "x " * 500_001), InputError, "over the limit of 1,000,000"),
    "context lone surrogate": (
        lambda r: r.ask(QUESTION, "abc \udfff def"),
        InputError,
        "context holds a lone surrogate (U+DFFF) at character 4",
    ),
    "top_k zero": (lambda r: r.ask(QUESTION, CONTEXT, top_k=0), ConfigError, "top_k must be a positive integer"),
    "top_k text": (lambda r: r.ask(QUESTION, CONTEXT, top_k="3"), ConfigError, "top_k must be a positive integer"),
    "top_k bool": (lambda r: r.ask(QUESTION, CONTEXT, top_k=True), ConfigError, "top_k must be a positive integer"),
    "max_answer_len negative": (
        lambda r: r.ask(QUESTION, CONTEXT, max_answer_len=-1),
        ConfigError,
        "max_answer_len must be a positive integer",
    ),
    "null_threshold out of range": (
        lambda r: r.ask(QUESTION, CONTEXT, null_threshold=1.5),
        ConfigError,
        "null_threshold is a probability",
    ),
    "temperature zero": (lambda r: r.ask(QUESTION, CONTEXT, temperature=0), ConfigError, "temperature must be"),
    "unknown setting": (lambda r: r.ask(QUESTION, CONTEXT, topk=3), ConfigError, "unknown reader setting(s): topk"),
    "predict a bad item": (lambda r: r.predict([(QUESTION,)]), InputError, "item 0 is neither an Example"),
    "predict batch size zero": (
        lambda r: r.predict([(QUESTION, CONTEXT)], batch_size=0),
        InputError,
        "batch_size must be a positive integer",
    ),
}


@pytest.mark.parametrize("case", API_ERRORS)
def test_api_bad_input(case: str, tiny_reader: Reader) -> None:
    call, error_type, message = API_ERRORS[case]
    with pytest.raises(error_type) as raised:
        call(tiny_reader)
    assert message in str(raised.value)


@pytest.mark.parametrize("case", ODD_TEXTS)
def test_api_odd_texts_give_exact_answers(case: str, tiny_reader: Reader) -> None:
    context = ODD_TEXTS[case]
    for align_to_words in (True, False):
        answers = tiny_reader.ask(QUESTION, context, top_k=5, align_to_words=align_to_words)
        assert_exact_answers(answers, context)
    if case in ("zero width only", "nul only", "mega word"):
        # no token the model can point at, or one [UNK] covering 999,000 characters: no usable answer
        assert answers == []
    if case == "mega word between words":
        assert {a.text for a in tiny_reader.ask(QUESTION, context, top_k=5)} <= {"Paris", "London"}


def test_api_a_question_longer_than_a_window_is_cut(tiny_reader: Reader) -> None:
    question = " ".join(["where"] * 2000) + "?"
    answers = tiny_reader.ask(question, CONTEXT, top_k=3, max_seq_len=64, doc_stride=16, max_question_len=16)
    assert answers and answers == tiny_reader.ask(
        question, CONTEXT, top_k=3, max_seq_len=64, doc_stride=16, max_question_len=16
    )
    assert_exact_answers(answers, CONTEXT, top_k=3)


def test_api_no_answer_probability_is_a_probability_for_odd_texts(tiny_reader: Reader) -> None:
    for context in ODD_TEXTS.values():
        [prediction] = tiny_reader.predict([(QUESTION, context)], handle_impossible_answer=True, top_k=3)
        assert 0.0 <= prediction.no_answer_probability <= 1.0
        assert_exact_answers(prediction.answers, context, top_k=3)


# ====================================================================== HTTP

MAX_CONTEXT_CHARS = 2_000


@pytest.fixture(scope="module")
def client(tiny_reader):
    from spanqa.serve.app import create_app

    with TestClient(create_app(tiny_reader, max_context_chars=MAX_CONTEXT_CHARS, batch_wait_ms=1)) as test_client:
        yield test_client


def good(**changes: Any) -> dict[str, Any]:
    return {"question": QUESTION, "context": CONTEXT, **changes}


HTTP_ERRORS: dict[str, tuple[str, Any, int, str]] = {
    # name: (path, body, status, field)
    "question empty": ("/v1/answer", good(question=""), 422, "question"),
    "question whitespace": ("/v1/answer", good(question=" \t\n"), 422, "question"),
    "context empty": ("/v1/answer", good(context=""), 422, "context"),
    "context whitespace": ("/v1/answer", good(context="\n\n  "), 422, "context"),
    "question missing": ("/v1/answer", {"context": CONTEXT}, 422, "question"),
    "context missing": ("/v1/answer", {"question": QUESTION}, 422, "context"),
    "question a number": ("/v1/answer", good(question=42), 422, "question"),
    "context a list": ("/v1/answer", good(context=[CONTEXT]), 422, "context"),
    "context null": ("/v1/answer", good(context=None), 422, "context"),
    "top_k zero": ("/v1/answer", good(top_k=0), 422, "top_k"),
    "top_k text": ("/v1/answer", good(top_k="3"), 422, "top_k"),
    "top_k float": ("/v1/answer", good(top_k=2.5), 422, "top_k"),
    "max_answer_len zero": ("/v1/answer", good(max_answer_len=0), 422, "max_answer_len"),
    "handle_impossible_answer a string": (
        "/v1/answer",
        good(handle_impossible_answer="yes"),
        422,
        "handle_impossible_answer",
    ),
    "unknown field": ("/v1/answer", good(topk=3), 422, "topk"),
    "question too long": ("/v1/answer", good(question="why " * 2_000), 422, "question"),
    "context over the limit": ("/v1/answer", good(context="x" * (MAX_CONTEXT_CHARS + 1)), 413, "context"),
    "context lone surrogate": ("/v1/answer", good(context="abc \ud800 def"), 422, "context"),
    "question lone surrogate": ("/v1/answer", good(question="who \udc00?"), 422, "question"),
    "batch empty": ("/v1/answer/batch", {"requests": []}, 422, "requests"),
    "batch item empty question": (
        "/v1/answer/batch",
        {"requests": [good(), good(question="")]},
        422,
        "requests[1].question",
    ),
    "explain empty context": ("/v1/explain", good(context=" "), 422, "context"),
}


def _post(client: TestClient, path: str, body: Any):
    # json.dumps writes a lone surrogate as the escape "\ud800", as a careless client would send it
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("case", HTTP_ERRORS)
def test_http_bad_input(case: str, client: TestClient) -> None:
    path, body, status, field = HTTP_ERRORS[case]
    response = _post(client, path, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert field.rsplit(".", 1)[-1].split("[")[0] in error["message"]
    assert "Traceback" not in response.text


def test_http_a_body_that_is_not_json(client: TestClient) -> None:
    response = client.post("/v1/answer", content=b'{"question": "Who', headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "JSON" in response.json()["error"]["message"]


def test_http_invalid_utf8_in_the_body(client: TestClient) -> None:
    body = b'{"question": "Who built it?", "context": "The tower \xff\xfe was built"}'
    response = client.post("/v1/answer", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "not valid UTF-8" in response.json()["error"]["message"] and "Traceback" not in response.text


@pytest.mark.parametrize(
    "case",
    [
        "nul characters",
        "control characters",
        "right-to-left",
        "bidi controls",
        "only punctuation",
        "only emoji",
        "combining marks",
        "zero width only",
    ],
)
def test_http_odd_texts_give_exact_answers(case: str, client: TestClient, tiny_reader: Reader) -> None:
    context = ODD_TEXTS[case]
    response = _post(client, "/v1/answer", good(context=context, top_k=5))
    assert response.status_code == 200, response.text
    answers = response.json()["answers"]
    assert_exact_answers(answers, context)
    assert [(a["answer"], a["start"]) for a in answers] == [
        (a.text, a.start) for a in tiny_reader.ask(QUESTION, context, top_k=5)
    ]


# ====================================================================== SQuAD data files (spanqa evaluate)


def squad(context: str = CONTEXT, qas: list[dict] | None = None, version: str = "v2.0") -> dict[str, Any]:
    start = context.find("Gustave")
    qas = (
        qas
        if qas is not None
        else [
            {"id": "q1", "question": QUESTION, "answers": [{"text": "Gustave Eiffel", "answer_start": start}]},
            {
                "id": "q2",
                "question": "When did it open?",
                "answers": [{"text": "1889", "answer_start": context.find("1889")}],
            },
            {"id": "q3", "question": "Who painted it?", "answers": [], "is_impossible": True},
        ]
    )
    return {"version": version, "data": [{"title": "Tower", "paragraphs": [{"context": context, "qas": qas}]}]}


def _qa(**changes: Any) -> dict[str, Any]:
    return {"id": "q1", "question": QUESTION, "answers": [{"text": "Gustave", "answer_start": 30}], **changes}


SQUAD_ERRORS: dict[str, tuple[str | bytes | Any, str]] = {
    "not json": ('{"data": [', "is not valid JSON (line 1"),
    "invalid utf-8": (b'{"data": [\xff]}', "is not UTF-8 text (invalid start byte at byte 10): save it as UTF-8"),
    "a list at the top": ([{"paragraphs": []}], "the top level should be an object with a 'data' list"),
    "no data key": ({"version": "v2.0"}, "has no 'data' field"),
    "data not a list": ({"data": {"title": "x"}}, "data should be a list, got object"),
    "no paragraphs": ({"data": [{"title": "x"}]}, "data[0] has no 'paragraphs' field"),
    "no context": ({"data": [{"paragraphs": [{"qas": []}]}]}, "data[0].paragraphs[0] has no 'context' field"),
    "context a number": (
        {"data": [{"paragraphs": [{"context": 3, "qas": []}]}]},
        "data[0].paragraphs[0].context should be a string, got integer",
    ),
    "no qas": ({"data": [{"paragraphs": [{"context": CONTEXT}]}]}, "paragraphs[0] has no 'qas' field"),
    "no id": (squad(qas=[{"question": QUESTION, "answers": []}]), "qas[0] has no 'id' field"),
    "question a list": (squad(qas=[_qa(question=["Who?"])]), "qas[0].question should be a string, got list"),
    "answers not a list": (squad(qas=[_qa(answers="Gustave")]), "qas[0].answers should be a list"),
    "answer without text": (squad(qas=[_qa(answers=[{"answer_start": 0}])]), "answers[0] has no 'text' field"),
    "answer_start text": (
        squad(qas=[_qa(answers=[{"text": "The", "answer_start": "0"}])]),
        "answers[0].answer_start should be an integer, got string",
    ),
    "answer_start a boolean": (
        squad(qas=[_qa(answers=[{"text": "The", "answer_start": True}])]),
        "answers[0].answer_start should be an integer, got boolean",
    ),
    "answer_start beyond the context": (
        squad(qas=[_qa(answers=[{"text": "x", "answer_start": len(CONTEXT) + 5}])]),
        f"answer_start={len(CONTEXT) + 5} lies outside its context (length {len(CONTEXT)})",
    ),
    "answer_start negative": (
        squad(qas=[_qa(answers=[{"text": "x", "answer_start": -1}])]),
        "answer_start=-1 lies outside its context",
    ),
    "duplicate ids": (squad(qas=[_qa(), _qa(question="Again?")]), "question id 'q1' appears twice"),
    "no questions": (squad(qas=[]), "holds no questions"),
    "lone surrogate context": (
        squad(context="abc \ud800 def", qas=[_qa(answers=[])]),
        "data[0].paragraphs[0].context holds a lone surrogate (U+D800) at character 4",
    ),
}


@pytest.mark.parametrize("case", SQUAD_ERRORS)
def test_cli_bad_squad_files(case: str, tmp_path: Path, monkeypatch, capsys) -> None:
    content, message = SQUAD_ERRORS[case]
    path = tmp_path / "data.json"
    write(path, content) if isinstance(content, str | bytes) else write(path, json.dumps(content))
    predictions = write_json(tmp_path / "predictions.json", {"q1": "Gustave Eiffel"})
    out = tmp_path / "reports" / "report.json"
    code, _, err = run_main(monkeypatch, capsys, "evaluate", str(path), str(predictions), "--out", str(out))
    assert_one_error_line(code, err, message, str(path))
    assert not out.exists() and not out.parent.exists()


def test_squad_json_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    from spanqa.data import load_squad

    path = write(tmp_path / "bom.json", (BOM + json.dumps(squad())).encode("utf-8"))
    examples = load_squad(path)
    assert [e.id for e in examples] == ["q1", "q2", "q3"] and examples[0].context == CONTEXT


# ====================================================================== predictions and na-probs files


def _evaluate(monkeypatch, capsys, tmp_path: Path, predictions: Any, *extra: str, na_probs: Any = None):
    data = write_json(tmp_path / "data.json", squad())
    args = ["evaluate", str(data), str(write_json(tmp_path / "predictions.json", predictions))]
    if na_probs is not None:
        args += ["--na-probs", str(write_json(tmp_path / "na.json", na_probs))]
    out = tmp_path / "report.json"
    code, stdout, err = run_main(monkeypatch, capsys, *args, "--out", str(out), *extra)
    return code, stdout, err, out


GOLD = {"q1": "Gustave Eiffel", "q2": "1889", "q3": ""}


def test_prediction_ids_that_match_no_question_are_ignored_with_a_warning(tmp_path, monkeypatch, capsys) -> None:
    code, _, err, out = _evaluate(monkeypatch, capsys, tmp_path, GOLD)
    assert code == 0 and err == ""
    expected = json.loads(out.read_text())
    stray = {f"stray{i}": "x" for i in range(7)}
    code, _, err, out = _evaluate(monkeypatch, capsys, tmp_path, {**GOLD, **stray})
    assert code == 0
    assert err.count("\n") == 1 and err.startswith("warning: ") and "Traceback" not in err
    assert (
        "7 id(s) that match no question of the data file: 'stray0', 'stray1', 'stray2', 'stray3', 'stray4' "
        "and 2 more; ignored" in err
    )
    report = json.loads(out.read_text())
    assert report["ignored_ids"]["predictions"] == list(stray)
    for key in ("exact", "f1", "total", "HasAns_f1", "NoAns_f1", "missing"):
        assert report[key] == expected[key]


def test_prediction_ids_that_match_no_question_are_an_error_with_strict(tmp_path, monkeypatch, capsys) -> None:
    code, _, err, out = _evaluate(monkeypatch, capsys, tmp_path, {**GOLD, "zz": "x"}, "--strict")
    assert_one_error_line(code, err, "1 id(s) that match no question of the data file: 'zz'", "without --strict")
    assert not out.exists()


def test_missing_predictions_score_zero_and_are_listed(tmp_path, monkeypatch, capsys) -> None:
    code, stdout, err, out = _evaluate(monkeypatch, capsys, tmp_path, {"q1": "Gustave Eiffel"})
    assert code == 0 and err == ""
    assert "missing predictions: 2 of 3 (scored 0): 'q2', 'q3'" in stdout
    report = json.loads(out.read_text())
    assert report["missing_ids"] == ["q2", "q3"] and math.isclose(report["exact"], 100 / 3)


def test_only_stray_ids_scores_zero(tmp_path, monkeypatch, capsys) -> None:
    code, _, err, out = _evaluate(monkeypatch, capsys, tmp_path, {"other": "x"})
    assert code == 0 and err.startswith("warning: ") and "'other'" in err
    assert json.loads(out.read_text())["exact"] == 0.0


NA_PROB_ERRORS = {
    "above one": ({"q1": 1.5, "q2": 0.1, "q3": 0.9}, "the value for id 'q1' is 1.5; probabilities lie between 0 and 1"),
    "negative": ({"q1": 0.5, "q2": -0.01, "q3": 0.9}, "the value for id 'q2' is -0.01"),
    "nan": ({"q1": float("nan"), "q2": 0.1, "q3": 0.9}, "the value for id 'q1' is nan"),
    "infinite": ({"q1": float("inf"), "q2": 0.1, "q3": 0.9}, "the value for id 'q1' is inf"),
    "a string": ({"q1": "0.5", "q2": 0.1, "q3": 0.9}, "the value for id 'q1' should be a number, got a string"),
    "a boolean": ({"q1": True, "q2": 0.1, "q3": 0.9}, "should be a number, got a boolean"),
    "a list": ([0.1, 0.2], "should be a JSON object"),
    "missing ids": ({"q1": 0.5}, "no probability for 2 question(s) that have a prediction: 'q2', 'q3'"),
}


@pytest.mark.parametrize("case", NA_PROB_ERRORS)
def test_bad_na_probs(case: str, tmp_path, monkeypatch, capsys) -> None:
    na_probs, message = NA_PROB_ERRORS[case]
    code, _, err, out = _evaluate(monkeypatch, capsys, tmp_path, GOLD, na_probs=na_probs)
    assert_one_error_line(code, err, message, "na.json")
    assert not out.exists()


def test_na_prob_ids_that_match_no_question_are_ignored_with_a_warning(tmp_path, monkeypatch, capsys) -> None:
    na_probs = {"q1": 0.1, "q2": 0.2, "q3": 0.9}
    code, _, err, out = _evaluate(monkeypatch, capsys, tmp_path, GOLD, na_probs=na_probs)
    assert code == 0 and err == ""
    expected = json.loads(out.read_text())
    code, _, err, out = _evaluate(monkeypatch, capsys, tmp_path, GOLD, na_probs={**na_probs, "elsewhere": 0.0})
    assert code == 0 and err.startswith("warning: no-answer probabilities file") and "'elsewhere'" in err
    report = json.loads(out.read_text())
    assert {k: report[k] for k in ("best_f1", "best_f1_thresh", "pr_f1_ap")} == {
        k: expected[k] for k in ("best_f1", "best_f1_thresh", "pr_f1_ap")
    }


def test_api_stray_ids_warn_and_strict_raises() -> None:
    from spanqa.evaluation.metrics import squad_metrics

    with pytest.warns(IgnoredInputWarning, match="1 id"):
        metrics = squad_metrics(squad(), {**GOLD, "zz": "x"})
    assert metrics["exact"] == 100.0
    with pytest.raises(InputError, match="match no question"):
        squad_metrics(squad(), {**GOLD, "zz": "x"}, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        squad_metrics(squad(), GOLD)  # nothing stray, nothing said


def test_predictions_of_the_fixture_with_stray_ids(tmp_path, monkeypatch, capsys) -> None:
    ids = question_ids(SQUAD_V2_SMALL)
    predictions = write_json(tmp_path / "p.json", {**dict.fromkeys(ids, ""), "not-a-question": "x"})
    code, stdout, err = run_main(monkeypatch, capsys, "evaluate", str(SQUAD_V2_SMALL), str(predictions))
    assert code == 0 and "'not-a-question'" in err and f"missing predictions: 0 of {len(ids)}" in stdout


# ====================================================================== training


def _train_data(path: Path) -> Path:
    context = "The tower is in Paris."
    unlocatable = [{"text": "London", "answer_start": 3}]
    qas = [{"id": f"q{i}", "question": f"Where {i}?", "answers": unlocatable} for i in range(4)]
    return write_json(path, squad(context=context, qas=qas, version="1.1"))


def test_training_data_with_no_usable_example(tiny_model_dir, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "--base",
        str(tiny_model_dir),
        "--train",
        str(_train_data(tmp_path / "t.json")),
        "--out",
        str(out),
        "--max-steps",
        "2",
        "--no-progress",
    ]
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert_one_error_line(
        code,
        err,
        "has no usable example: 4 of 4 question(s)",
        "e.g. q0, q1, q2",
        "check each answer's text and answer_start",
    )
    assert not out.exists()


def _fake_checkpoints(directory: Path, steps: Sequence[int]) -> list[Path]:
    from spanqa.training.checkpoint import save_checkpoint

    state = {"model": {}, "optimizer": {}, "schedule": {}, "epoch": 0, "micro": 0, "config": {}}
    return [save_checkpoint(directory, step, {**state, "step": step}, [{"seed": step}]) for step in steps]


TRUNCATIONS: dict[str, Callable[[Path], None]] = {
    "state cut short": lambda p: (p / "state.pt").write_bytes((p / "state.pt").read_bytes()[:40]),
    "state empty": lambda p: (p / "state.pt").write_bytes(b""),
    "state missing": lambda p: (p / "state.pt").unlink(),
    "rng missing": lambda p: (p / "rng-rank0.pt").unlink(),
    "state lacks keys": lambda p: torch.save({"model": {}}, p / "state.pt"),
}


@pytest.mark.parametrize("case", TRUNCATIONS)
def test_a_truncated_checkpoint_falls_back_to_the_previous_one(case: str, tmp_path: Path) -> None:
    from spanqa.training.checkpoint import load_latest_readable

    _, second, third = _fake_checkpoints(tmp_path, [2, 4, 6])
    TRUNCATIONS[case](third)
    said: list[str] = []
    resumed = load_latest_readable(tmp_path, 0, said.append)
    assert resumed is not None and resumed.path == second and resumed.state["step"] == 4
    assert resumed.rng == {"seed": 4}
    assert len(said) == 1 and str(third) in said[0] and "falling back to the previous checkpoint" in said[0]
    assert ("truncated or unreadable" in said[0]) or ("incomplete" in said[0])


def test_no_readable_checkpoint_is_an_error_that_names_the_fix(tmp_path: Path) -> None:
    from spanqa.training.checkpoint import load_latest_readable

    for path in _fake_checkpoints(tmp_path, [2, 4]):
        (path / "state.pt").write_bytes(b"\x80")
    said: list[str] = []
    with pytest.raises(DataFileError, match=rf"no checkpoint in {tmp_path} can be read .*delete {tmp_path}"):
        load_latest_readable(tmp_path, 0, said.append)
    assert len(said) == 2
    assert load_latest_readable(tmp_path / "empty", 0, said.append) is None


@pytest.mark.slow
def test_resume_from_a_truncated_checkpoint_uses_the_previous_one(tiny_model_dir, tmp_path) -> None:
    """`spanqa train --resume` on a run whose newest checkpoint was cut short: it says so, resumes from the
    one before and finishes."""
    from cli_helpers import run_process
    from paths import SQUAD_V1_SMALL

    from spanqa.training.checkpoint import list_checkpoints

    out = tmp_path / "run"
    args = [
        "train",
        "--base",
        str(tiny_model_dir),
        "--train",
        str(SQUAD_V1_SMALL),
        "--out",
        str(out),
        "--max-steps",
        "4",
        "--batch-size",
        "4",
        "--save-every",
        "2",
        "--keep-last",
        "3",
        "--max-seq-len",
        "96",
        "--doc-stride",
        "32",
        "--max-question-len",
        "24",
        "--max-train-examples",
        "40",
        "--no-progress",
    ]
    first = run_process(*args, env={"OMP_NUM_THREADS": "1"})
    assert first.returncode == 0, first.stderr[-2000:]
    older, newest = list_checkpoints(out / "checkpoints")[-2:]
    (newest / "state.pt").write_bytes((newest / "state.pt").read_bytes()[:1000])
    resumed = run_process(*args, "--resume", env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"warning: checkpoint {newest} is truncated or unreadable" in resumed.stdout
    assert f"resumed from {older} (step 2 of 4)" in resumed.stdout
    assert "Traceback" not in resumed.stderr
    assert (out / "model.safetensors").exists()
