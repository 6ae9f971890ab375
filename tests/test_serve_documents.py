"""`spanqa serve --index`: POST /v1/ask and GET /v1/index over a real index of real files (a PDF, .txt).

The served answers are `Index.ask`'s, their offsets hold in the documents, bad input is a 4xx
naming the field, a server without an index says how to start one, and keys and rate limits
guard /v1/ask like the rest of /v1/.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cli_helpers import assert_one_error_line, run_main
from fastapi.testclient import TestClient
from served_documents import build_library_index
from test_serve import assert_error

from spanqa.documents import Index
from spanqa.documents.store import DATABASE_FILE
from spanqa.errors import InputError
from spanqa.serve.app import create_app
from spanqa.serve.routes_documents import PASSAGES_MAX
from spanqa.serve.schemas import QUESTION_MAX_CHARS, TOP_K_MAX

QUESTION = "What lies in South America, France, the Super Bowl and the Austrian Empire?"  # 4 documents
KEY = "documents-test-key-0123456789"


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory) -> Path:
    return build_library_index(tmp_path_factory.mktemp("served-documents"))


@pytest.fixture(scope="module")
def client(tiny_reader, index_folder):
    with TestClient(create_app(tiny_reader, index=index_folder, batch_wait_ms=2)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def bare_client(tiny_reader):
    with TestClient(create_app(tiny_reader)) as test_client:
        yield test_client


def test_ask_returns_index_asks_answers_with_citations_that_hold(client, tiny_reader, index_folder):
    response = client.post("/v1/ask", json={"question": QUESTION, "top_k": 5, "passages": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"question", "answers", "no_answer_probability", "passages_read", "model", "took_ms"}
    assert body["question"] == QUESTION and body["passages_read"] == 4 and body["answers"]
    with Index.open(index_folder) as index:
        expected = index.ask(QUESTION, tiny_reader, top_k=5, passages=4).to_dict()
        for answer in body["answers"]:
            if answer["no_answer"]:
                assert answer["answer"] == "" and answer["path"] is None
                continue
            document = index.document(answer["document_id"])
            assert document.text[answer["start"] : answer["end"]] == answer["answer"]
            page_text = document.page_text(answer["page"] or 1)
            assert page_text[answer["page_start"] : answer["page_end"]] == answer["answer"]
            begin, end = answer["start"] - answer["passage_start"], answer["end"] - answer["passage_start"]
            assert answer["passage"][begin:end] == answer["answer"]
            assert answer["path"] == document.path and answer["title"] == document.title
    # The same answers as the library (and `spanqa ask --index`); batched padding may move the last digits.
    keys = ("answer", "no_answer", "path", "page", "start", "end", "page_start", "page_end", "passage",
            "passage_start", "title", "document_id", "document_key")
    def citations(answers):
        return [tuple(answer[key] for key in keys) for answer in answers]

    assert citations(body["answers"]) == citations(expected["answers"])
    assert [a["score"] for a in body["answers"]] == pytest.approx([a["score"] for a in expected["answers"]], abs=1e-5)
    assert body["no_answer_probability"] == pytest.approx(expected["no_answer_probability"], abs=1e-5)
    pdf_pages = {a["page"] for a in body["answers"] if a["path"] and a["path"].endswith("report.pdf")}
    assert pdf_pages <= {1, 2, 3}
    assert all(a["page"] is None for a in body["answers"] if a["path"] and a["path"].endswith(".txt"))


def test_defaults_are_three_answers_from_five_passages(client):
    body = client.post("/v1/ask", json={"question": "Is it the rain? " + QUESTION}).json()
    assert body["passages_read"] == 5 and len(body["answers"]) <= 3


def test_a_question_sharing_no_word_with_the_index_has_no_answer(client):
    body = client.post("/v1/ask", json={"question": "zyxwv qqqq?"}).json()
    assert body["answers"] == [] and body["passages_read"] == 0 and body["no_answer_probability"] == 1.0


def test_index_info_lists_counts_and_limits(client, index_folder):
    body = client.get("/v1/index").json()
    assert body["folder"] == str(index_folder)
    assert body["counts"] == {"files": 3, "documents": 3, "pages": 5, "passages": body["counts"]["passages"]}
    limits = {"top_k_max": TOP_K_MAX, "passages_max": PASSAGES_MAX, "question_max_chars": QUESTION_MAX_CHARS}
    assert body["limits"] == limits


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "   "}, "question"),
        ({"question": ""}, "question"),
        ({}, "question"),
        ({"question": "x" * (QUESTION_MAX_CHARS + 1)}, "question"),
        ({"question": "Who?", "top_k": 0}, "top_k"),
        ({"question": "Who?", "top_k": TOP_K_MAX + 1}, "top_k"),
        ({"question": "Who?", "top_k": "3"}, "top_k"),
        ({"question": "Who?", "top_k": 2.5}, "top_k"),
        ({"question": "Who?", "passages": 0}, "passages"),
        ({"question": "Who?", "passages": PASSAGES_MAX + 1}, "passages"),
        ({"question": "Who?", "context": "text"}, "context"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client, body, field):
    assert_error(client.post("/v1/ask", json=body), 422, field, "validation_error")


def test_question_is_empty_says_so(client):
    error = assert_error(client.post("/v1/ask", json={"question": " \n"}), 422, "question")
    assert "question is empty" in error["message"]


def test_a_server_without_an_index_says_how_to_start_one(bare_client):
    for response in (bare_client.post("/v1/ask", json={"question": "Who?"}), bare_client.get("/v1/index")):
        error = assert_error(response, 409, kind="no_index")
        assert "spanqa serve --index" in error["message"] and "spanqa index" in error["message"]
    schema = bare_client.get("/openapi.json").json()
    assert "409" in schema["paths"]["/v1/ask"]["post"]["responses"]
    assert "409" in schema["paths"]["/v1/index"]["get"]["responses"]


def test_keys_and_rate_limits_guard_ask(tiny_reader, index_folder):
    app = create_app(tiny_reader, index=index_folder, api_keys=[KEY], rate_limit="2/min")
    with TestClient(app) as client:
        assert_error(client.post("/v1/ask", json={"question": QUESTION}), 401, kind="unauthorized")
        assert_error(client.get("/v1/index"), 401, kind="unauthorized")
        headers = {"Authorization": f"Bearer {KEY}"}
        assert client.post("/v1/ask", json={"question": QUESTION}, headers=headers).status_code == 200
        assert client.get("/v1/index", headers=headers).status_code == 200
        assert_error(client.post("/v1/ask", json={"question": QUESTION}, headers=headers), 429, kind="rate_limited")


def test_a_missing_or_foreign_index_is_refused_before_serving(tiny_reader, tmp_path, index_folder):
    with pytest.raises(InputError, match="no index at"):
        create_app(tiny_reader, index=tmp_path / "nowhere")
    old = tmp_path / "old"
    old.mkdir()
    (old / DATABASE_FILE).write_bytes((index_folder / DATABASE_FILE).read_bytes())
    with sqlite3.connect(old / DATABASE_FILE) as connection:
        connection.execute("UPDATE meta SET value = '0' WHERE key = 'format_version'")
    with pytest.raises(InputError, match="--rebuild"):
        create_app(tiny_reader, index=old)


@pytest.mark.parametrize("make", ["missing", "not_an_index"])
def test_cli_serve_with_a_bad_index_is_one_error_line(tmp_path, monkeypatch, capsys, tiny_model_dir, make):
    folder = tmp_path / "idx"
    if make == "not_an_index":
        folder.mkdir()
        (folder / DATABASE_FILE).write_text("not a database", encoding="utf-8")
    code, _out, err = run_main(
        monkeypatch, capsys, "serve", "--index", str(folder), "--model", str(tiny_model_dir), "--port", "0"
    )
    assert_one_error_line(code, err, "no index at" if make == "missing" else "not a spanqa index")


def test_concurrent_questions_under_uvicorn_share_the_index_safely(tiny_reader, index_folder):
    """Many clients at once: searches from the server's worker threads, reading batched; every answer
    equals the one asked alone."""
    import uvicorn

    app = create_app(tiny_reader, index=index_folder, batch_wait_ms=5, access_log=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/ask"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        questions = [QUESTION, "When was Nikola Tesla born?", "Who won Super Bowl 50?", "Where is Normandy?"] * 6
        alone = {q: httpx.post(url, json={"question": q}, timeout=60).json() for q in set(questions)}
        with ThreadPoolExecutor(max_workers=12) as pool:
            responses = list(pool.map(lambda q: httpx.post(url, json={"question": q}, timeout=60), questions))
        for question, response in zip(questions, responses, strict=True):
            assert response.status_code == 200, response.text
            served = response.json()["answers"]
            assert [(a["answer"], a["path"], a["start"]) for a in served] == [
                (a["answer"], a["path"], a["start"]) for a in alone[question]["answers"]
            ]
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.mark.quality
def test_the_default_model_cites_the_right_file_and_page(index_folder):
    from spanqa import Reader

    with TestClient(create_app(Reader.load(), index=index_folder)) as client:
        tesla = client.post("/v1/ask", json={"question": "In what year was Nikola Tesla born?"}).json()["answers"][0]
        assert (tesla["answer"], Path(tesla["path"]).name, tesla["page"]) == ("1856", "report.pdf", 2)
        broncos = client.post("/v1/ask", json={"question": "What team was the AFC champion?"}).json()["answers"][0]
        assert "Denver Broncos" in broncos["answer"]
        assert (Path(broncos["path"]).name, broncos["page"]) == ("superbowl.txt", None)
