"""The HTTP server: `create_app(reader)` returns a FastAPI app that answers over JSON.

Transport checks (content type, body size) happen in an ASGI middleware (middleware.py) before the
body is parsed; field checks in the pydantic schemas (schemas.py); the endpoints are in routes.py;
every error, whatever raised it, leaves through one handler (errors.py) as
`{"error": {"type", "message", "field"}}` with a 4xx (5xx only for our own faults, never with a traceback).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from spanqa.inference.reader import Reader
from spanqa.serve.batcher import Batcher
from spanqa.serve.errors import HANDLED_ERRORS, handle_error
from spanqa.serve.middleware import RequestGuard
from spanqa.serve.routes import STATIC_DIR, router
from spanqa.serve.schemas import ErrorResponse
from spanqa.serve.state import ServeConfig, ServerState

__all__ = ["SERVER_LOAD_OPTIONS", "ServeConfig", "ServerState", "create_app"]

logger = logging.getLogger("spanqa.serve")

API_DESCRIPTION = """
Extractive question answering: send a question and a context, get the answer spans, their
probabilities and their character offsets in the context.

**Errors.** Every error response has the body
`{"error": {"type": "...", "message": "...", "field": "..."}}`: `type` is a stable kind
(`validation_error`, `invalid_json`, `context_too_long`, `body_too_large`,
`unsupported_media_type`, `overloaded`, `not_ready`, `input_error`, `not_found`, ...),
`message` says what is wrong and how to fix it, `field` names the request field at fault
(`question`, `requests[2].top_k`, ...) or is null.

| status | when |
|---|---|
| 400 | the body is not valid JSON |
| 404 / 405 | no such path / method |
| 413 | the body is over max_body_bytes, or a context is over max_context_chars |
| 415 | the Content-Type is not application/json |
| 422 | a field is missing, has the wrong type, is empty or out of range |
| 503 | the queue is full or the model is not loaded yet: retry after `Retry-After` seconds |

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
) -> FastAPI:
    """The API over `reader`: a loaded Reader, or a model folder (None: the default model) to load at startup.

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
    )
    loaded = reader if isinstance(reader, Reader) else None
    source = None if loaded is not None else reader
    load_options = {"backend": backend, "precision": precision, **SERVER_LOAD_OPTIONS}
    state = ServerState(loaded, source, load_options, config)
    app = FastAPI(
        title="spanqa",
        version=_version(),
        description=API_DESCRIPTION,
        lifespan=_lifespan,
        responses={404: {"model": ErrorResponse, "description": "No such endpoint."}},
    )
    app.state.spanqa = state
    for error_class in HANDLED_ERRORS:
        app.add_exception_handler(error_class, handle_error)
    app.add_middleware(RequestGuard, max_body_bytes=config.body_limit)
    app.include_router(router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Load the reader if given a folder, start the batcher; on shutdown answer what is queued."""
    state: ServerState = app.state.spanqa
    if state.reader is None:
        state.reader = await asyncio.to_thread(Reader.load, state.source, **state.load_options)
    config = state.config
    state.base_settings = state.reader.settings.replace(max_context_chars=config.max_context_chars)
    state.batcher = Batcher(
        state.reader, max_batch=config.max_batch, batch_wait_ms=config.batch_wait_ms, max_queue=config.max_queue
    )
    await state.batcher.start()
    logger.info("spanqa serving model %s", state.reader.name)
    try:
        yield
    finally:
        # uvicorn has let in-flight requests finish; answer whatever is still queued.
        await state.batcher.stop()


def _version() -> str:
    from spanqa import __version__

    return __version__
