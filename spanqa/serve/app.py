"""The HTTP server: `create_app(reader)` returns a FastAPI app that answers over JSON.

A request passes, outside in: RequestContext (request id, access log, a JSON 500 for anything
that escapes: requestlog.py), DrainUnreadBody (an early answer still reaches clients that send
their whole body first: drain.py), CORS (only with allowed origins), AccessGuard (API keys 401,
rate limits 429: access.py), RequestGuard (content type 415, body size 413: middleware.py), all
before the body is parsed; field checks in the pydantic schemas (schemas.py); the endpoints are in routes.py;
every error, whatever raised it, leaves through one handler (errors.py) as
`{"error": {"type", "message", "field"}}` with a 4xx (5xx only for our own faults, never with a traceback).
A server serves a reader, a text classifier (routes_classify.py: POST /v1/classify), or both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from spanqa.classify import Classifier
from spanqa.errors import ConfigError
from spanqa.inference.reader import Reader
from spanqa.model.folder import check_task, local_folder, model_task
from spanqa.serve.access import GUARDED_PREFIX, AccessGuard
from spanqa.serve.auth import ApiKeys
from spanqa.serve.batcher import Batcher
from spanqa.serve.drain import DrainUnreadBody
from spanqa.serve.errors import HANDLED_ERRORS, handle_error
from spanqa.serve.middleware import RequestGuard
from spanqa.serve.ratelimit import TokenBuckets
from spanqa.serve.requestlog import RequestContext
from spanqa.serve.routes import STATIC_DIR, router
from spanqa.serve.routes_classify import router as classify_router
from spanqa.serve.routes_documents import router as documents_router
from spanqa.serve.schemas import ErrorResponse
from spanqa.serve.served_index import ServedIndex
from spanqa.serve.state import ServeConfig, ServerState

__all__ = ["SERVER_LOAD_OPTIONS", "ServeConfig", "ServerState", "create_app"]

logger = logging.getLogger("spanqa.serve")

API_DESCRIPTION = """
Extractive question answering: send a question and a context, get the answer spans, their
probabilities and their character offsets in the context. A server started with a text classifier
(`spanqa serve --classifier DIR`) also labels texts: POST /v1/classify.

**Errors.** Every error response has the body
`{"error": {"type": "...", "message": "...", "field": "...", "request_id": "..."}}`: `type` is a
stable kind (`validation_error`, `invalid_json`, `context_too_long`, `body_too_large`,
`unsupported_media_type`, `unauthorized`, `rate_limited`, `overloaded`, `not_ready`,
`input_error`, `not_found`, `no_index`, `no_classifier`, `no_reader`, ...), `message` says what is
wrong and how to fix it, `field` names the request field at fault (`question`, `requests[2].top_k`,
`texts[3]`, ...) or is null, and `request_id` is the request's id (also in the `X-Request-ID` response
header and the server's log; send your own `X-Request-ID` to choose it).

| status | when |
|---|---|
| 400 | the body is not valid JSON |
| 401 | the server has API keys and the request has no `Authorization: Bearer KEY`, or a wrong one |
| 404 / 405 | no such path / method |
| 409 | /v1/ask or /v1/index on a server started without an index (`spanqa serve --index DIR`) |
| 409 | /v1/classify or /v1/classifier on a server without a classifier (`--classifier DIR`) |
| 409 | a question endpoint on a server that serves a classifier alone (`--model CLASSIFIER_DIR`) |
| 413 | the body is over max_body_bytes, or a context is over max_context_chars |
| 415 | the Content-Type is not application/json |
| 422 | a field is missing, has the wrong type, is empty or out of range |
| 429 | over the server's rate limit: retry after `Retry-After` seconds |
| 503 | the queue is full or the model is not loaded yet: retry after `Retry-After` seconds |

**Authentication.** A server started with API keys wants `Authorization: Bearer KEY` on every
`/v1/` endpoint; `/health`, `/ready`, this page, `/openapi.json` and the web page stay open.

Limits in force are listed by `GET /v1/model` under `limits`.
"""

# Between runs of the model the event loop parses and answers HTTP on the same cores, so ONNX
# Runtime's threads must not spin-wait there (bench/serve_load.py, 32 clients on 2 cores: 33
# questions/s served with spinning, 39 without).
SERVER_LOAD_OPTIONS = {"spin_wait": False}


def create_app(
    reader: Any = None,
    *,
    backend: str = "auto",
    precision: str = "auto",
    max_batch: int = 32,
    batch_wait_ms: float = 5.0,
    max_queue: int = 256,
    max_context_chars: int = 100_000,
    max_body_bytes: int | None = None,
    rate_limit: str | None = None,
    rate_burst: int | None = None,
    cors_origins: Sequence[str] = (),
    api_keys: Iterable[str] | ApiKeys | None = None,
    access_log: bool = True,
    index: Any = None,
    classifier: Any = None,
) -> FastAPI:
    """The API over `reader`: a loaded Reader, or a model folder (None: the default model) to load at startup.

    `api_keys` (None: no keys, the API is open) are the bearer tokens /v1/ accepts; `rate_limit`
    ("10/s", "600/min") is per key, or per client address without keys; `cors_origins` are the web
    origins whose pages may call the API (none by default: only same-origin pages, like spanqa's own).
    `index` (an index folder, a `spanqa.documents.Index` or a `ServedIndex`) adds questions over documents:
    POST /v1/ask; without one that endpoint answers 409.
    `classifier` (a loaded `spanqa.Classifier` or a classifier folder) adds POST /v1/classify beside the reader.
    A classifier given as `reader` (a Classifier, or a folder that holds one) is served alone: the question
    endpoints then answer 409 `no_reader`.

    A folder is loaded the way a server needs it (`SERVER_LOAD_OPTIONS`: ONNX Runtime threads that do
    not spin-wait). A Reader you loaded yourself is served as it is: load it with
    `Reader.load(..., spin_wait=False)` for the same throughput.

    >>> import uvicorn
    >>> uvicorn.run(create_app("models/minilm-squad"), port=8000)
    """
    config = ServeConfig(
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        max_queue=max_queue,
        max_context_chars=max_context_chars,
        max_body_bytes=max_body_bytes,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        cors_origins=tuple(cors_origins),
    )
    keys = api_keys if isinstance(api_keys, ApiKeys) or api_keys is None else ApiKeys(api_keys)
    serves_reader = not _is_classifier(reader)
    if not serves_reader:
        if classifier is not None:
            raise ConfigError("the model is a classifier and a classifier was given too: give a reader as the model")
        reader, classifier = None, reader
    loaded = reader if isinstance(reader, Reader) else None
    source = None if loaded is not None else reader
    load_options = {"backend": backend, "precision": precision, **SERVER_LOAD_OPTIONS}
    state = ServerState(loaded, source, load_options, config)
    state.serves_reader = serves_reader
    if isinstance(classifier, Classifier):
        state.classifier = classifier
    elif classifier is not None:
        check_task(classifier, "classify")  # a reader folder given as the classifier: one error before listening
        state.classifier_source = classifier
    # Opened here, not in the lifespan: a missing index is an error before the server listens.
    state.documents = None if index is None else ServedIndex.open(index)
    app = FastAPI(
        title="spanqa",
        version=_version(),
        description=API_DESCRIPTION,
        lifespan=_lifespan,
        responses={404: {"model": ErrorResponse, "description": "No such endpoint."}},
    )
    app.state.spanqa = state
    if keys is not None:
        _document_bearer_keys(app)
    for error_class in HANDLED_ERRORS:
        app.add_exception_handler(error_class, handle_error)
    # add_middleware puts each one outside those added before it.
    app.add_middleware(RequestGuard, max_body_bytes=config.body_limit)
    rate = config.rate
    app.add_middleware(AccessGuard, api_keys=keys, buckets=None if rate is None else TokenBuckets(rate))
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(DrainUnreadBody)
    app.add_middleware(RequestContext, access_log=access_log)
    app.include_router(router)
    app.include_router(documents_router)
    app.include_router(classify_router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _document_bearer_keys(app: FastAPI) -> None:
    """Declare the bearer key on every /v1/ operation of the schema (and so the Authorize button of
    /docs), only on a server that has keys: AccessGuard enforces it, before any body is read."""
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_schema()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["apiKey"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key of this server (--api-key-file or $SPANQA_API_KEYS).",
            }
            for path, operations in schema.get("paths", {}).items():
                if path.startswith(GUARDED_PREFIX):
                    for operation in operations.values():
                        operation["security"] = [{"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _is_classifier(model: Any) -> bool:
    """A loaded Classifier, or a local folder whose model is a text classifier (None: the default reader)."""
    if isinstance(model, Classifier):
        return True
    if model is None or isinstance(model, Reader):
        return False
    folder = local_folder(model)
    return folder is not None and model_task(folder) == "classify"


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Load the models given as folders, start their workers; on shutdown answer what is queued."""
    state: ServerState = app.state.spanqa
    config = state.config
    if state.serves_reader:
        if state.reader is None:
            state.reader = await asyncio.to_thread(Reader.load, state.source, **state.load_options)
        state.base_settings = state.reader.settings.replace(max_context_chars=config.max_context_chars)
        state.batcher = Batcher(
            state.reader, max_batch=config.max_batch, batch_wait_ms=config.batch_wait_ms, max_queue=config.max_queue
        )
        await state.batcher.start()
        logger.info("spanqa serving model %s", state.reader.name)
    if state.serves_classifier:
        if state.classifier is None:
            state.classifier = await asyncio.to_thread(
                Classifier.load, state.classifier_source, **state.load_options
            )
        # Only its `call` is used: one worker thread and a bounded queue, no cross-request batching
        # (a request's texts are batched together by Classifier.classify).
        state.classifier_worker = Batcher(None, max_queue=config.max_queue)
        await state.classifier_worker.start()
        logger.info("spanqa serving classifier %s", state.classifier.name)
    try:
        yield
    finally:
        # uvicorn has let in-flight requests finish; answer whatever is still queued.
        for worker in (state.batcher, state.classifier_worker):
            if worker is not None:
                await worker.stop()


def _version() -> str:
    from spanqa import __version__

    return __version__
