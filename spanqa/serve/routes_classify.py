"""Text classification (`spanqa serve --classifier DIR`, or `--model DIR` for a classifier alone):
POST /v1/classify, GET /v1/classifier.

A request's texts are classified together in one `Classifier.classify` call (length-sorted, padded
batches), on the classifier's own worker thread: off the event loop, one call at a time (the model
is not thread-safe), behind a bounded queue (503 overloaded when full). A server without a
classifier answers these endpoints 409 `no_classifier`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from spanqa.classify import Classifier
from spanqa.errors import InputError
from spanqa.inference.inputs import check_encodable
from spanqa.serve.batcher import Batcher
from spanqa.serve.errors import ApiError, api_error
from spanqa.serve.routes import ERROR_RESPONSES, GET_ERROR_RESPONSES, server_state
from spanqa.serve.schemas import NOT_BLANK, NOT_BLANK_PATTERN, TOP_K_MAX, ErrorResponse, json_int
from spanqa.serve.state import ServerState

CLASSIFY_MAX_TEXTS = 64  # texts of one request; each is up to the server's max_context_chars

NO_CLASSIFIER_RESPONSE = {
    409: {"model": ErrorResponse, "description": "The server was started without a classifier (--classifier)."}
}

router = APIRouter()

_TEXT_SCHEMA = {"type": "string", **NOT_BLANK}
_ITEM_SCHEMA = {
    "anyOf": [
        _TEXT_SCHEMA,
        {"type": "array", "items": _TEXT_SCHEMA, "minItems": 2, "maxItems": 2},
    ],
    "description": "A text, or a [text, text_pair] pair (e.g. [question, paragraph]) for models trained on pairs.",
}


def _text_or_pair(value: Any) -> str | tuple[str, str]:
    """A text or a [text, text_pair] pair, exactly (strict: no numbers, no nulls, no other lengths)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value):
        return (value[0], value[1])
    raise ValueError(
        f"each of texts must be a string or a [text, text_pair] array of two strings, got {_json_kind(value)}"
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return f"an array of {len(value)}" if len(value) != 2 else "an array holding a non-string"
    names = {bool: "a boolean", int: "a number", float: "a number", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


TextItem = Annotated[str | tuple[str, str], PlainValidator(_text_or_pair), WithJsonSchema(_ITEM_SCHEMA)]


class ClassifyRequest(BaseModel):
    """Texts (or text pairs) to label with the server's classifier, answered in the order given."""

    model_config = ConfigDict(strict=True, extra="forbid")

    texts: list[TextItem] = Field(
        min_length=1,
        max_length=CLASSIFY_MAX_TEXTS,
        description="The texts: each a string, or a [text, text_pair] pair. Each text must hold a character that is "
        "not a space, and at most the server's max_context_chars characters (see GET /v1/classifier).",
    )
    top_k: json_int(1, TOP_K_MAX) | None = Field(
        default=None, description="Labels per text, best first (default: every label; multi-label: those kept)."
    )
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Multi-label models: keep labels scored at least this (default: the model's, 0.5). "
        "Single-label models ignore it.",
    )


class LabelOut(BaseModel):
    label: str = Field(description="A label name, from the model folder's config.json id2label.")
    score: float = Field(description="Its probability: softmax over the labels, or its sigmoid for multi-label models.")


class ClassifiedText(BaseModel):
    labels: list[LabelOut] = Field(description="Best first; multi-label models: only those over the threshold.")


class ClassifyResponse(BaseModel):
    results: list[ClassifiedText] = Field(description="One entry per text, in the order they were given.")
    model: str = Field(description="Name of the classifier's model folder.")
    took_ms: float = Field(description="Server time spent on this request, queueing included.")


class ClassifierResponse(BaseModel):
    name: str
    labels: list[str] = Field(description="The label names, by label id.")
    multi_label: bool = Field(description="True: one sigmoid per label (several or none may be returned).")
    runtime: str
    precision: str | None
    settings: dict[str, Any] = Field(description="The classifier settings (max_seq_len, long_text, threshold, ...).")
    limits: dict[str, int] = Field(description="Bounds of POST /v1/classify: max_texts, max_text_chars, top_k_max.")


@dataclass(frozen=True)
class ReadyClassifier:
    state: ServerState
    classifier: Classifier
    worker: Batcher


def ready_classifier(request: Request) -> ReadyClassifier:
    """The dependency of the classifier endpoints: 409 no_classifier without one, 503 until it is loaded."""
    state = server_state(request)
    if not state.serves_classifier:
        raise ApiError(
            409,
            "no_classifier",
            "this server has no text classifier: start it with `spanqa serve --classifier MODEL_DIR` (beside its "
            "reader), or `spanqa serve --model MODEL_DIR` for a classifier alone",
        )
    if not state.classifier_ready:
        message = "the classifier is not loaded yet: retry shortly"
        raise ApiError(503, "not_ready", message, headers={"Retry-After": "5"})
    assert state.classifier_worker is not None
    return ReadyClassifier(state, state.classifier, state.classifier_worker)


ServedClassifier = Annotated[ReadyClassifier, Depends(ready_classifier)]


@router.get(
    "/v1/classifier",
    response_model=ClassifierResponse,
    responses={**GET_ERROR_RESPONSES, **NO_CLASSIFIER_RESPONSE},
    summary="The text classifier this server runs: its labels and limits (409 when it has none).",
)
async def classifier_info(served: ServedClassifier) -> ClassifierResponse:
    classifier = served.classifier
    return ClassifierResponse(
        name=classifier.name,
        labels=list(classifier.labels),
        multi_label=classifier.multi_label,
        runtime=type(classifier.runtime).__name__,
        precision=getattr(classifier.runtime, "precision", None),
        settings=classifier.settings.to_dict(),
        limits={
            "max_texts": CLASSIFY_MAX_TEXTS,
            "max_text_chars": served.state.config.max_context_chars,
            "top_k_max": TOP_K_MAX,
        },
    )


@router.post(
    "/v1/classify",
    response_model=ClassifyResponse,
    responses={**ERROR_RESPONSES, **NO_CLASSIFIER_RESPONSE},
    summary="Label texts (or [text, text_pair] pairs) with the server's classifier; labels best first.",
)
async def classify(body: ClassifyRequest, served: ServedClassifier) -> ClassifyResponse:
    began = time.perf_counter()
    check_texts(body.texts, served.state.config.max_context_chars)
    try:
        labels = await served.worker.call(served.classifier.classify, body.texts, body.top_k, body.threshold)
    except Exception as error:
        raise api_error(error) from None
    results = [ClassifiedText(labels=[LabelOut(label=x.label, score=x.score) for x in row]) for row in labels]
    took_ms = round((time.perf_counter() - began) * 1000.0, 2)
    return ClassifyResponse(results=results, model=served.classifier.name, took_ms=took_ms)


def check_texts(texts: Sequence[str | tuple[str, str]], limit: int) -> None:
    """422 naming the text (texts[3], or texts[3][1] in a pair) that is blank, too long or not Unicode."""
    for index, item in enumerate(texts):
        parts = (
            [(f"texts[{index}]", item)]
            if isinstance(item, str)
            else [(f"texts[{index}][{part}]", text) for part, text in enumerate(item)]
        )
        for field, text in parts:
            if re.search(NOT_BLANK_PATTERN, text) is None:
                raise ApiError(422, "validation_error", f"{field} is empty or only whitespace: give some text", field)
            if len(text) > limit:
                raise ApiError(
                    422,
                    "text_too_long",
                    f"{field} has {len(text):,} characters, over the server's limit of {limit:,} (max_context_chars): "
                    "shorten it, or start the server with a higher --max-context-chars",
                    field,
                )
            try:
                check_encodable(text, field)
            except InputError as error:
                raise ApiError(422, "input_error", str(error), field) from None
