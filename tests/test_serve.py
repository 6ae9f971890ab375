"""`spanqa serve`: every endpoint, equality with Reader.ask, batching, bad input, overload, the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_main
from fastapi.testclient import TestClient

from spanqa.errors import InputError
from spanqa.inference.reader import Reader
from spanqa.model.folder import ModelInfo
from spanqa.serve.app import create_app
from spanqa.serve.batcher import Batcher, Overloaded
from spanqa.serve.middleware import RequestGuard
from spanqa.types import Prediction, Query

STATIC = Path(__file__).resolve().parent.parent / "spanqa" / "serve" / "static"
CONTEXT = "The Eiffel Tower was built by Gustave Eiffel in Paris. It opened in 1889 for the World's Fair."
CONTEXT_2 = "Ada Lovelace wrote the first program for the Analytical Engine, a machine designed by Charles Babbage."
MAX_CONTEXT_CHARS = 500
REQUESTS: list[dict[str, Any]] = [
    {"question": "Who built the tower?", "context": CONTEXT},
    {"question": "When did it open?", "context": CONTEXT, "top_k": 3},
    {"question": "Who wrote the first program?", "context": CONTEXT_2, "max_answer_len": 3},
    {"question": "Who designed the machine?", "context": CONTEXT_2, "top_k": 2, "handle_impossible_answer": True},
]


def ask_alone(reader: Reader, request: dict[str, Any]) -> list[dict[str, Any]]:
    options = {k: v for k, v in request.items() if k not in ("question", "context")}
    return [a.to_dict() for a in reader.ask(request["question"], request["context"], **options)]


def assert_same_answers(served: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    # Batched windows are padded differently, so scores may differ in the last float digits.
    assert [(a["answer"], a["start"], a["end"]) for a in served] == [
        (a["answer"], a["start"], a["end"]) for a in expected
    ]
    assert [a["score"] for a in served] == pytest.approx([a["score"] for a in expected], abs=1e-5)


def assert_error(response, status: int, field: str | None = None, kind: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "field", "request_id"}
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    if field is not None:
        assert body["error"]["field"] == field
        assert field.rsplit(".", 1)[-1].split("[")[0] in body["error"]["message"]
    if kind is not None:
        assert body["error"]["type"] == kind
    return body["error"]


@pytest.fixture(scope="module")
def client(tiny_reader):
    with TestClient(create_app(tiny_reader, max_context_chars=MAX_CONTEXT_CHARS, batch_wait_ms=2)) as test_client:
        yield test_client


class FakeRuntime:
    """A Runtime that waits for `release` before answering, and fails on a question's first word.

    "bad ..." raises InputError (the caller's fault), "crash ..." a RuntimeError (ours); every
    other batch gets flat logits, which decode to some answer.
    """

    precision = "fp32"
    batch_independent = True

    def __init__(self, tokenizer, block: bool = False) -> None:
        self.tokenizer = tokenizer
        self.entered = threading.Event()
        self.release = threading.Event()
        if not block:
            self.release.set()
        self.calls: list[int] = []  # rows of each batch run

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        self.entered.set()
        self.release.wait(10)
        self.calls.append(len(batch["input_ids"]))
        for row in batch["input_ids"]:
            tokens = self.tokenizer.convert_ids_to_tokens(row.tolist())
            first_word = tokens[tokens.index("[CLS]") + 1]
            if first_word == "bad":
                raise InputError("question is bad: ask a better one")
            if first_word == "crash":
                raise RuntimeError("secret internal detail")
        logits = np.zeros(batch["input_ids"].shape, dtype=np.float32)
        return logits, logits.copy()


def fake_reader(tiny_reader: Reader, block: bool = False) -> tuple[Reader, FakeRuntime]:
    """A real Reader, with the tiny model's tokenizer and settings, over a FakeRuntime."""
    runtime = FakeRuntime(tiny_reader.tokenizer, block)
    return Reader(runtime, tiny_reader.tokenizer, tiny_reader.info, name="fake"), runtime


# ---------------------------------------------------------------------- happy paths
def test_health_ready_and_model(client, tiny_reader):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    model = client.get("/v1/model").json()
    assert model["name"] == tiny_reader.name
    assert model["head"] == "linear"
    assert model["settings"] == tiny_reader.settings.to_dict()
    assert model["scores"] is None
    assert model["limits"]["max_context_chars"] == MAX_CONTEXT_CHARS


def test_model_reports_the_scores_of_its_model_card(tiny_reader):
    scores = {"squad-v1.1-dev": {"exact_match": 81.2, "f1": 88.4}}
    info = ModelInfo(tiny_reader.info.head, tiny_reader.settings, {"scores": scores})
    carded = Reader(tiny_reader.runtime, tiny_reader.tokenizer, info, name="carded")
    with TestClient(create_app(carded)) as test_client:
        model = test_client.get("/v1/model").json()
    assert model["name"] == "carded" and model["scores"] == scores


@pytest.mark.parametrize("request_body", REQUESTS)
def test_answer_equals_reader_ask(client, tiny_reader, request_body):
    response = client.post("/v1/answer", json=request_body)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == tiny_reader.name and body["took_ms"] >= 0
    expected = ask_alone(tiny_reader, request_body)
    assert len(body["answers"]) == len(expected) <= request_body.get("top_k", 1)
    assert_same_answers(body["answers"], expected)
    for answer in body["answers"]:
        assert request_body["context"][answer["start"] : answer["end"]] == answer["answer"]


def test_concurrent_requests_with_mixed_settings_each_equal_reader_ask(client, tiny_reader):
    results: dict[int, Any] = {}

    def post(index: int) -> None:
        results[index] = client.post("/v1/answer", json=REQUESTS[index % len(REQUESTS)])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for index, response in sorted(results.items()):
        assert response.status_code == 200
        assert_same_answers(response.json()["answers"], ask_alone(tiny_reader, REQUESTS[index % len(REQUESTS)]))


def test_batch_endpoint_keeps_order_and_equals_reader_ask(client, tiny_reader):
    response = client.post("/v1/answer/batch", json={"requests": REQUESTS})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(REQUESTS)
    for result, request_body in zip(results, REQUESTS, strict=True):
        assert_same_answers(result["answers"], ask_alone(tiny_reader, request_body))


def test_batcher_batches_mixed_settings_and_matches_reader_ask(tiny_reader):
    async def run() -> tuple[list[Prediction], Any]:
        batcher = Batcher(tiny_reader, max_batch=32, batch_wait_ms=50)
        await batcher.start()
        jobs = []
        for index, request_body in enumerate(REQUESTS):
            options = {k: v for k, v in request_body.items() if k not in ("question", "context")}
            query = Query(str(index), request_body["question"], (request_body["context"],))
            jobs.append((query, tiny_reader.settings.replace(**options)))
        predictions = await asyncio.gather(*batcher.submit(jobs))
        await batcher.stop()
        return predictions, batcher.stats

    predictions, stats = asyncio.run(run())
    assert stats.batches == 1 and stats.items == len(REQUESTS)  # one batch, decoded in 4 settings groups
    for prediction, request_body in zip(predictions, REQUESTS, strict=True):
        assert_same_answers([a.to_dict() for a in prediction.answers], ask_alone(tiny_reader, request_body))


def test_explain_gives_token_probabilities_and_the_same_answers(client):
    request_body = {"question": "Who built the tower?", "context": CONTEXT, "top_k": 2}
    explained = client.post("/v1/explain", json=request_body).json()
    answered = client.post("/v1/answer", json=request_body).json()
    assert_same_answers(explained["answers"], answered["answers"])
    assert 0.0 <= explained["no_answer_probability"] <= 1.0
    for window in explained["windows"]:
        assert sum(t["start_prob"] for t in window["tokens"]) == pytest.approx(1.0)
        assert sum(t["end_prob"] for t in window["tokens"]) == pytest.approx(1.0)
    tokens = explained["tokens"]
    assert [t["start"] for t in tokens] == sorted(t["start"] for t in tokens)
    assert all(CONTEXT[t["start"] : t["end"]] == t["text"] for t in tokens)
    assert "".join(t["text"] for t in tokens) == CONTEXT.replace(" ", "")


def test_web_page_is_served_without_external_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="ask"' in page.text and 'id="context"' in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name


def test_openapi_lists_the_endpoints_and_the_error_shape(client):
    schema = client.get("/openapi.json").json()
    assert {"/health", "/ready", "/v1/model", "/v1/answer", "/v1/answer/batch", "/v1/explain"} <= set(schema["paths"])
    answer = schema["paths"]["/v1/answer"]["post"]
    assert {"413", "415", "422", "503"} <= set(answer["responses"])
    assert '{"error": {"type"' in schema["info"]["description"]
    request_schema = schema["components"]["schemas"]["AnswerRequest"]["properties"]["top_k"]
    assert "20" in str(request_schema)


def test_ready_is_503_until_the_model_is_loaded(tiny_reader, tiny_model_dir):
    not_started = TestClient(create_app(tiny_reader))  # no `with`: the lifespan has not run
    assert not_started.get("/health").status_code == 200
    assert not_started.get("/ready").status_code == 503
    assert_error(not_started.post("/v1/answer", json=REQUESTS[0]), 503, kind="not_ready")
    with TestClient(create_app(str(tiny_model_dir))) as loaded_at_startup:
        assert loaded_at_startup.get("/ready").status_code == 200
        assert loaded_at_startup.post("/v1/answer", json=REQUESTS[0]).status_code == 200


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"context": CONTEXT}, "question"),
        ({"question": "Who?"}, "context"),
        ({"question": 5, "context": CONTEXT}, "question"),
        ({"question": "Who?", "context": ["a", "b"]}, "context"),
        ({"question": "", "context": CONTEXT}, "question"),
        ({"question": " \n\t ", "context": CONTEXT}, "question"),
        ({"question": "Who?", "context": "   "}, "context"),
        ({"question": "Who?", "context": CONTEXT, "top_k": 0}, "top_k"),
        ({"question": "Who?", "context": CONTEXT, "top_k": 21}, "top_k"),
        ({"question": "Who?", "context": CONTEXT, "top_k": "3"}, "top_k"),
        ({"question": "Who?", "context": CONTEXT, "top_k": 2.5}, "top_k"),
        ({"question": "Who?", "context": CONTEXT, "max_answer_len": 0}, "max_answer_len"),
        ({"question": "Who?", "context": CONTEXT, "handle_impossible_answer": "yes"}, "handle_impossible_answer"),
        ({"question": "Who?", "context": CONTEXT, "topk": 2}, "topk"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, body, field):
    assert_error(client.post("/v1/answer", json=body), 422, field=field, kind="validation_error")


def test_context_over_the_limit_is_413_naming_max_context_chars(client):
    error = assert_error(
        client.post("/v1/answer", json={"question": "Who?", "context": "word " * MAX_CONTEXT_CHARS}),
        413,
        field="context",
        kind="context_too_long",
    )
    assert "max_context_chars" in error["message"]
    batch = {"requests": [REQUESTS[0], {"question": "Who?", "context": "x" * (MAX_CONTEXT_CHARS + 1)}]}
    assert_error(client.post("/v1/answer/batch", json=batch), 413, field="requests[1].context")


def test_bad_batches_are_422_naming_the_item(client):
    assert_error(client.post("/v1/answer/batch", json={"requests": []}), 422, field="requests")
    too_many = {"requests": [REQUESTS[0]] * 65}
    assert_error(client.post("/v1/answer/batch", json=too_many), 422, field="requests")
    assert_error(client.post("/v1/answer/batch", json={"requests": REQUESTS[0]}), 422, field="requests")
    one_bad = {"requests": [REQUESTS[0], {"question": "  ", "context": CONTEXT}]}
    assert_error(client.post("/v1/answer/batch", json=one_bad), 422, field="requests[1].question")


def test_bodies_that_are_not_json_objects(client):
    headers = {"Content-Type": "application/json"}
    assert_error(client.post("/v1/answer", content=b'{"question": ', headers=headers), 400, kind="invalid_json")
    assert_error(client.post("/v1/answer", content=b"\xff\xfe{}", headers=headers), 400, kind="invalid_json")
    assert_error(client.post("/v1/answer", content=b"[1, 2]", headers=headers), 422)
    assert_error(client.post("/v1/answer", content=b"", headers=headers), 422)


def test_wrong_content_type_is_415(client):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = client.post("/v1/answer", content=b"question=Who", headers={"Content-Type": content_type})
        error = assert_error(response, 415, kind="unsupported_media_type")
        assert "application/json" in error["message"]
    ok = client.post("/v1/answer", json=REQUESTS[0], headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


def test_oversized_bodies_are_413_by_header_and_while_streaming(tiny_reader):
    app = create_app(tiny_reader, max_body_bytes=300)
    big = b'{"question": "Who?", "context": "' + b"x" * 400 + b'"}'
    with TestClient(app) as limited:
        headers = {"Content-Type": "application/json"}
        assert_error(limited.post("/v1/answer", content=big, headers=headers), 413, kind="body_too_large")

        def chunks():  # no Content-Length: only the streamed count can catch it
            for start in range(0, len(big), 100):
                yield big[start : start + 100]

        assert_error(limited.post("/v1/answer", content=chunks(), headers=headers), 413, kind="body_too_large")
        assert limited.post("/v1/answer", json=REQUESTS[0]).status_code == 200


def test_request_guard_stops_reading_a_body_over_the_limit():
    received: list[bytes] = []

    async def inner_app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message["body"])
            if not message.get("more_body"):
                return

    async def run() -> None:
        chunks = iter([b"a" * 100, b"b" * 100, b"c" * 100, b"d" * 100])

        async def receive():
            return {"type": "http.request", "body": next(chunks), "more_body": True}

        scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")]}
        await RequestGuard(inner_app, max_body_bytes=250)(scope, receive, lambda message: None)

    with pytest.raises(Exception, match="over the limit of 250 bytes"):
        asyncio.run(run())
    assert len(received) == 2


def test_unknown_paths_and_methods_use_the_error_shape(client):
    assert_error(client.get("/v1/nothing"), 404, kind="not_found")
    error = assert_error(client.get("/v1/answer"), 405, kind="method_not_allowed")
    assert "POST" in error["message"]


# ---------------------------------------------------------------------- reader failures, overload, shutdown
def test_reader_errors_become_422_and_500_without_details(tiny_reader):
    reader, _ = fake_reader(tiny_reader)
    with TestClient(create_app(reader)) as test_client:
        assert_error(test_client.post("/v1/answer", json={"question": "bad one", "context": "c"}), 422, "question")
        crash = test_client.post("/v1/answer", json={"question": "crash now", "context": "c"})
        assert_error(crash, 500, kind="internal_error")
        assert "secret" not in crash.text
        mixed = {"requests": [{"question": "fine", "context": "c"}, {"question": "bad", "context": "c"}]}
        assert_error(test_client.post("/v1/answer/batch", json=mixed), 422, field="requests[1].question")


def test_a_full_queue_answers_503_with_retry_after(tiny_reader):
    reader, runtime = fake_reader(tiny_reader, block=True)
    with TestClient(create_app(reader, max_queue=1, max_batch=1)) as test_client:
        first: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: first.update(r=test_client.post("/v1/answer", json=REQUESTS[0])))
        thread.start()
        try:
            assert runtime.entered.wait(10)
            rejected = test_client.post("/v1/answer", json=REQUESTS[1])
            assert_error(rejected, 503, kind="overloaded")
            assert rejected.headers["Retry-After"].isdigit() and int(rejected.headers["Retry-After"]) >= 1
            assert "max_queue" in rejected.json()["error"]["message"]
        finally:
            runtime.release.set()
            thread.join(10)
        assert first["r"].status_code == 200
        assert test_client.post("/v1/answer", json=REQUESTS[1]).status_code == 200  # room again


def test_stop_drains_the_queue_then_refuses_new_work(tiny_reader):
    async def run() -> list[Prediction]:
        reader, runtime = fake_reader(tiny_reader)
        batcher = Batcher(reader, max_batch=2, batch_wait_ms=0, max_queue=100)
        await batcher.start()
        futures = batcher.submit([(Query(str(i), "q", ("c",)), reader.settings) for i in range(5)])
        await batcher.stop()
        assert all(f.done() for f in futures)
        with pytest.raises(Overloaded):
            batcher.submit([(Query("late", "q", ("c",)), reader.settings)])
        assert runtime.calls == [2, 2, 1]  # one model run per batch of two
        return [f.result() for f in futures]

    assert [p.example_id for p in asyncio.run(run())] == ["0", "1", "2", "3", "4"]


# ---------------------------------------------------------------------- CLI
def test_cli_help(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "serve", "--help")
    assert code == 0
    for option in (
        "--model",
        "--host",
        "--port",
        "--max-batch",
        "--batch-wait-ms",
        "--max-queue",
        "--max-context-chars",
    ):
        assert option in out
    assert "Example: spanqa serve" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--model", "/no/such/model"], "does not exist"),
        (["--port", "70000"], "--port"),
        (["--max-batch", "0"], "max_batch"),
        (["--batch-wait-ms", "-1"], "batch_wait_ms"),
    ],
)
def test_cli_bad_input_is_one_error_line(monkeypatch, capsys, tiny_model_dir, args, words):
    full = ["serve", *args] if "--model" in args else ["serve", "--model", str(tiny_model_dir), *args]
    code, _, err = run_main(monkeypatch, capsys, *full)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err


def test_cli_busy_port_is_one_error_line(monkeypatch, capsys, tiny_model_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        code, _, err = run_main(monkeypatch, capsys, "serve", "--model", str(tiny_model_dir), "--port", port)
    assert code != 0
    assert err.strip().startswith("error: cannot listen on 127.0.0.1:") and len(err.strip().splitlines()) == 1
