"""POST /v1/classify and GET /v1/classifier: equal to Classifier.classify, errors, keys, 409s, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_helpers import run_main
from fastapi.testclient import TestClient
from test_serve import assert_error
from tiny_model import build_tiny_classifier

from spanqa.classify import Classifier
from spanqa.errors import ModelFolderError
from spanqa.serve.app import create_app
from spanqa.serve.routes_classify import CLASSIFY_MAX_TEXTS

KEY = "classify-key-0123456789abcdef"
MAX_TEXT_CHARS = 300
TEXTS: list[Any] = [
    "The film was a delight from start to finish.",
    ["Who built the tower?", "The Eiffel Tower was built by Gustave Eiffel in Paris."],
    "Dull.",
    ["When did it open?", "It opened in 1889 for the World's Fair, and millions came to see it."],
]


def as_items(texts: list[Any]) -> list[Any]:
    return [tuple(text) if isinstance(text, list) else text for text in texts]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("classifiers") / "tiny-sentiment"
    return build_tiny_classifier(folder, labels=("neg", "neu", "pos"))


@pytest.fixture(scope="module")
def classifier(classifier_dir) -> Classifier:
    return Classifier.load(classifier_dir, precision="fp32")


@pytest.fixture(scope="module")
def multi_label(tmp_path_factory) -> Classifier:
    folder = tmp_path_factory.mktemp("classifiers") / "tiny-topics"
    build_tiny_classifier(folder, labels=("sport", "politics", "science"), multi_label=True, seed=3)
    return Classifier.load(folder, precision="fp32")


@pytest.fixture(scope="module")
def alone(classifier):
    """A server that serves the classifier alone."""
    with TestClient(create_app(classifier, max_context_chars=MAX_TEXT_CHARS)) as client:
        yield client


@pytest.fixture(scope="module")
def both(tiny_reader, classifier):
    with TestClient(create_app(tiny_reader, classifier=classifier, batch_wait_ms=0)) as client:
        yield client


def served_labels(response) -> list[list[dict[str, Any]]]:
    assert response.status_code == 200, response.text
    return [item["labels"] for item in response.json()["results"]]


def expected_labels(classifier: Classifier, texts: list[Any], **options: Any) -> list[list[dict[str, Any]]]:
    return [[label.to_dict() for label in labels] for labels in classifier.classify(as_items(texts), **options)]


@pytest.mark.parametrize("top_k", [None, 1, 2, 20])
def test_served_labels_and_scores_equal_classify(alone, classifier, top_k):
    body: dict[str, Any] = {"texts": TEXTS} if top_k is None else {"texts": TEXTS, "top_k": top_k}
    response = alone.post("/v1/classify", json=body)
    assert served_labels(response) == expected_labels(classifier, TEXTS, top_k=top_k)
    payload = response.json()
    assert payload["model"] == classifier.name and payload["took_ms"] >= 0
    first = payload["results"][0]["labels"]
    assert [x["score"] for x in first] == sorted((x["score"] for x in first), reverse=True)
    if top_k is None:
        assert sorted(x["label"] for x in first) == ["neg", "neu", "pos"]
        assert sum(x["score"] for x in first) == pytest.approx(1.0)


def test_one_text_alone_and_top_k_3_0_count_as_integers(alone, classifier):
    response = alone.post("/v1/classify", json={"texts": ["Dull."], "top_k": 3.0})
    assert served_labels(response) == expected_labels(classifier, ["Dull."], top_k=3)


def test_multi_label_threshold(multi_label):
    with TestClient(create_app(multi_label)) as client:
        for threshold in (None, 0.0, 0.5, 1):
            body: dict[str, Any] = {"texts": TEXTS}
            if threshold is not None:
                body["threshold"] = threshold
            expected = expected_labels(multi_label, TEXTS, threshold=threshold)
            assert served_labels(client.post("/v1/classify", json=body)) == expected
        assert all(len(labels) == 3 for labels in served_labels(client.post("/v1/classify", json={
            "texts": TEXTS, "threshold": 0.0})))  # fmt: skip
        assert client.get("/v1/classifier").json()["multi_label"] is True


def test_classifier_info(alone, classifier):
    info = alone.get("/v1/classifier").json()
    assert info["name"] == classifier.name
    assert info["labels"] == ["neg", "neu", "pos"]
    assert info["multi_label"] is False
    assert info["settings"] == classifier.settings.to_dict()
    assert info["limits"] == {"max_texts": CLASSIFY_MAX_TEXTS, "max_text_chars": MAX_TEXT_CHARS, "top_k_max": 20}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "texts"),
        ({"texts": []}, "texts"),
        ({"texts": ["ok"] * (CLASSIFY_MAX_TEXTS + 1)}, "texts"),
        ({"texts": "a single string"}, "texts"),
        ({"texts": ["ok", "   \n"]}, "texts[1]"),
        ({"texts": ["ok", ["question?", "\u3000"]]}, "texts[1][1]"),
        ({"texts": ["ok", ["only one"]]}, "texts[1]"),
        ({"texts": [["a", "b", "c"]]}, "texts[0]"),
        ({"texts": [3]}, "texts[0]"),
        ({"texts": [None]}, "texts[0]"),
        ({"texts": [["a", 1]]}, "texts[0]"),
        ({"texts": ["ok", "x" * (MAX_TEXT_CHARS + 1)]}, "texts[1]"),
        ({"texts": [["q?", "x" * (MAX_TEXT_CHARS + 1)]]}, "texts[0][1]"),
        ({"texts": ["ok"], "top_k": 0}, "top_k"),
        ({"texts": ["ok"], "top_k": 21}, "top_k"),
        ({"texts": ["ok"], "top_k": "2"}, "top_k"),
        ({"texts": ["ok"], "top_k": 1.5}, "top_k"),
        ({"texts": ["ok"], "threshold": 1.5}, "threshold"),
        ({"texts": ["ok"], "text": "typo"}, "text"),
    ],
)
def test_bad_requests_are_422_naming_the_field(alone, body, field):
    assert_error(alone.post("/v1/classify", json=body), 422, field=field)


def test_a_text_over_the_limit_says_how_to_raise_it(alone):
    error = assert_error(alone.post("/v1/classify", json={"texts": ["x" * 400]}), 422, "texts[0]", "text_too_long")
    assert "--max-context-chars" in error["message"]


def test_a_lone_surrogate_is_422_naming_the_text(alone):
    response = alone.post(
        "/v1/classify", content=b'{"texts": ["ok", "bad \\ud800 text"]}', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "texts[1]", "input_error")


def test_a_classifier_alone_answers_409_on_the_question_endpoints(alone):
    for method, path, body in [
        ("POST", "/v1/answer", {"question": "Who?", "context": "Ada wrote it."}),
        ("POST", "/v1/answer/batch", {"requests": [{"question": "Who?", "context": "Ada wrote it."}]}),
        ("POST", "/v1/explain", {"question": "Who?", "context": "Ada wrote it."}),
        ("GET", "/v1/model", None),
    ]:
        error = assert_error(alone.request(method, path, json=body), 409, kind="no_reader")
        assert "--classifier" in error["message"]
    assert alone.get("/ready").json() == {"status": "ready"}
    page = alone.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_a_reader_alone_answers_409_on_classify(client_reader_only):
    error = assert_error(client_reader_only.post("/v1/classify", json={"texts": ["ok"]}), 409, kind="no_classifier")
    assert "--classifier" in error["message"]
    assert_error(client_reader_only.get("/v1/classifier"), 409, kind="no_classifier")


@pytest.fixture(scope="module")
def client_reader_only(tiny_reader):
    with TestClient(create_app(tiny_reader, batch_wait_ms=0)) as client:
        yield client


def test_a_server_with_both_serves_both(both, tiny_reader, classifier):
    answered = both.post("/v1/answer", json={"question": "Who wrote it?", "context": "Ada Lovelace wrote it."})
    assert answered.status_code == 200
    expected = [a.to_dict() for a in tiny_reader.ask("Who wrote it?", "Ada Lovelace wrote it.")]
    assert [(a["answer"], a["start"], a["end"]) for a in answered.json()["answers"]] == [
        (a["answer"], a["start"], a["end"]) for a in expected
    ]
    assert served_labels(both.post("/v1/classify", json={"texts": TEXTS})) == expected_labels(classifier, TEXTS)
    assert both.get("/v1/model").json()["name"] == tiny_reader.name
    assert both.get("/v1/classifier").json()["name"] == classifier.name
    paths = both.get("/openapi.json").json()["paths"]
    assert {"/v1/classify", "/v1/classifier", "/v1/answer"} <= set(paths)


def test_folders_load_at_startup(classifier_dir, classifier, tiny_model_dir):
    with TestClient(create_app(classifier_dir, precision="fp32")) as client:
        assert served_labels(client.post("/v1/classify", json={"texts": TEXTS})) == expected_labels(classifier, TEXTS)
    with TestClient(create_app(tiny_model_dir, classifier=classifier_dir, precision="fp32")) as client:
        assert served_labels(client.post("/v1/classify", json={"texts": TEXTS})) == expected_labels(classifier, TEXTS)
        assert client.post("/v1/answer", json={"question": "Who?", "context": "Ada wrote it."}).status_code == 200


def test_a_reader_folder_as_the_classifier_is_refused_before_serving(tiny_model_dir):
    with pytest.raises(ModelFolderError, match="question-answering model, not a text classifier"):
        create_app(None, classifier=tiny_model_dir)


def test_with_api_keys_classify_wants_the_key(classifier):
    with TestClient(create_app(classifier, api_keys=[KEY])) as client:
        for method, path, body in [("POST", "/v1/classify", {"texts": ["ok"]}), ("GET", "/v1/classifier", None)]:
            response = client.request(method, path, json=body)
            assert_error(response, 401, kind="unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = client.request(method, path, json=body, headers={"Authorization": "Bearer wrong-key-0123456789"})
            assert_error(wrong, 401, kind="unauthorized")
            good = client.request(method, path, json=body, headers={"Authorization": f"Bearer {KEY}"})
            assert good.status_code == 200, good.text
        schema = client.get("/openapi.json").json()
        assert schema["paths"]["/v1/classify"]["post"]["security"] == [{"apiKey": []}]


def test_the_schema_documents_the_request_shape(alone):
    schema = alone.get("/openapi.json").json()
    request = schema["components"]["schemas"]["ClassifyRequest"]
    texts = request["properties"]["texts"]
    assert texts["minItems"] == 1 and texts["maxItems"] == CLASSIFY_MAX_TEXTS
    kinds = [option["type"] for option in texts["items"]["anyOf"]]
    assert kinds == ["string", "array"]
    assert texts["items"]["anyOf"][1]["minItems"] == texts["items"]["anyOf"][1]["maxItems"] == 2
    responses = schema["paths"]["/v1/classify"]["post"]["responses"]
    assert {"200", "401", "409", "422", "429", "503"} <= set(responses)


# ---------------------------------------------------------------------- the command line
def test_cli_a_reader_folder_as_classifier_is_one_error_line(monkeypatch, capsys, tiny_model_dir):
    code, out, err = run_main(monkeypatch, capsys, "serve", "--classifier", str(tiny_model_dir), "--port", "0")
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "question-answering model, not a text classifier" in err and "--model" in err


def test_cli_two_classifiers_are_one_error_line(monkeypatch, capsys, classifier_dir):
    code, _, err = run_main(
        monkeypatch, capsys, "serve", "--model", str(classifier_dir), "--classifier", str(classifier_dir)
    )
    assert code != 0 and err.count("\n") == 1 and "is a text classifier" in err


@pytest.mark.slow
def test_cli_serves_a_reader_and_a_classifier_under_uvicorn(tiny_model_dir, classifier_dir, classifier):
    from test_serve_security import ServeProcess

    server = ServeProcess(
        "--model", str(tiny_model_dir), "--classifier", str(classifier_dir), "--precision", "fp32", "--max-batch", "4"
    )
    try:
        url = server.wait_started()
        classified = httpx.post(url + "/v1/classify", json={"texts": TEXTS}, timeout=30)
        assert served_labels(classified) == expected_labels(classifier, TEXTS)
        answered = httpx.post(url + "/v1/answer", json={"question": "Who?", "context": "Ada wrote it."}, timeout=30)
        assert answered.status_code == 200 and answered.json()["answers"]
        assert f"classifier {classifier_dir.name} at POST /v1/classify" in server.stderr
    finally:
        assert server.stop() == 0


@pytest.mark.slow
def test_cli_serves_a_classifier_alone_under_uvicorn(classifier_dir, classifier):
    from test_serve_security import ServeProcess

    server = ServeProcess("--model", str(classifier_dir), "--precision", "fp32")
    try:
        url = server.wait_started()
        assert served_labels(httpx.post(url + "/v1/classify", json={"texts": TEXTS}, timeout=30)) == expected_labels(
            classifier, TEXTS
        )
        refused = httpx.post(url + "/v1/answer", json={"question": "Who?", "context": "Ada wrote it."}, timeout=30)
        assert refused.status_code == 409 and refused.json()["error"]["type"] == "no_reader"
    finally:
        assert server.stop() == 0
