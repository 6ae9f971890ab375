"""schemathesis against the server's own OpenAPI schema: every endpoint, valid and invalid inputs.

Every response must be no 5xx, carry a status the schema declares for that endpoint, and have a
body and headers valid against the schema; schema-valid requests must be accepted and invalid
ones refused. Bounded and deterministic: a fixed number of examples per endpoint and mode,
derandomised (hypothesis derives the examples from the test, not from the clock), no deadline.

(schemathesis's `from_fixture` does not run under pytest 9, so each endpoint's hypothesis
strategy is driven here by a `@given` inside the test.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from spanqa.serve.app import create_app

EXAMPLES = 30  # per endpoint and mode
OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/v1/model"),
    ("POST", "/v1/answer"),
    ("POST", "/v1/answer/batch"),
    ("POST", "/v1/explain"),
    ("GET", "/v1/index"),
    ("POST", "/v1/ask"),
    ("GET", "/v1/classifier"),
    ("POST", "/v1/classify"),
]
BODY_OPERATIONS = [(method, path) for method, path in OPERATIONS if method == "POST"]
KEY = "fuzz-key-0123456789abcdef"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory):
    """A real index (a PDF and two .txt files), so that /v1/ask and /v1/index answer instead of 409."""
    from served_documents import build_library_index

    return build_library_index(tmp_path_factory.mktemp("fuzz-documents"))


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A tiny random text classifier, so that /v1/classify and /v1/classifier answer instead of 409."""
    from tiny_model import build_tiny_classifier

    from spanqa.classify import Classifier

    folder = build_tiny_classifier(tmp_path_factory.mktemp("fuzz-classifier") / "tiny-classifier")
    return Classifier.load(folder, precision="fp32")


@pytest.fixture(scope="module")
def api_schema(tiny_reader, index_folder, tiny_classifier):
    # A generous context limit: a schema-valid context must be answered (the 413 for a longer one
    # is this server's limit, not the schema's, and has its own tests in test_serve.py).
    app = create_app(
        tiny_reader, batch_wait_ms=0, max_context_chars=1_000_000, index=index_folder, classifier=tiny_classifier
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def keyed_schema(tiny_reader, index_folder, tiny_classifier):
    app = create_app(
        tiny_reader,
        batch_wait_ms=0,
        max_context_chars=1_000_000,
        api_keys=[KEY],
        index=index_folder,
        classifier=tiny_classifier,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def fuzz(schema, method: str, path: str, mode: GenerationMode, headers: dict[str, str] | None = None) -> None:
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        case.call_and_validate(headers=headers)

    check()


def test_the_fuzzed_operations_are_every_endpoint(api_schema):
    found = sorted((op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations())
    assert found == sorted(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_endpoint_answers_valid_requests_within_its_schema(api_schema, method, path):
    fuzz(api_schema, method, path, GenerationMode.POSITIVE)


# The GET endpoints take no parameters: there is no invalid request to make of them.
@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=[f"{m} {p}" for m, p in BODY_OPERATIONS])
def test_every_endpoint_refuses_invalid_requests_within_its_schema(api_schema, method, path):
    fuzz(api_schema, method, path, GenerationMode.NEGATIVE)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_with_api_keys_every_endpoint_answers_within_its_schema(keyed_schema, method, path):
    fuzz(keyed_schema, method, path, GenerationMode.POSITIVE, headers={"Authorization": f"Bearer {KEY}"})
