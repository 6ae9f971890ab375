"""The HTTP server: `create_app(reader)` returns a FastAPI app that answers over JSON.

Transport checks (content type, body size) happen in a small ASGI middleware before the body
is parsed; field checks in the pydantic schemas; every error, whatever raised it, leaves
through one handler as `{"error": {"type", "message", "field"}}` with a 4xx (5xx only for
our own faults, never with a traceback).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanqa.errors import ConfigError, DataFileError, InputError, MissingExtraError, ModelFolderError, SpanQAError
from spanqa.inference.explain import heat_map
from spanqa.inference.reader import Reader
from spanqa.serve.batcher import Batcher, Overloaded
from spanqa.serve.schemas import (
    BATCH_MAX_REQUESTS,
    TOP_K_MAX,
    AnswerOut,
    AnswerRequest,
    AnswerResponse,
    BatchItem,
    BatchRequest,
    BatchResponse,
    ErrorDetail,
    ErrorResponse,
    ExplainResponse,
    ModelResponse,
    StatusResponse,
    TokenHeat,
    WindowHeat,
)
from spanqa.settings import ReaderSettings
from spanqa.types import Answer, Query

logger = logging.getLogger("spanqa.serve")
STATIC_DIR = Path(__file__).parent / "static"
MIN_BODY_BYTES = 8 * 1024 * 1024

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

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Invalid JSON.",
        413: "Body or context too large.",
        415: "Content-Type is not application/json.",
        422: "A field is missing, mistyped or out of range.",
        503: "Busy or not ready; see the Retry-After header.",
    }.items()
}


@dataclass(frozen=True)
class ServeConfig:
    """Server limits and batching knobs (validated when built)."""

    max_batch: int = 32
    batch_wait_ms: float = 5.0
    max_queue: int = 256
    max_context_chars: int = 100_000
    max_body_bytes: int | None = None  # None: room for one maximal context, at least 8 MiB

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_queue", "max_context_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.batch_wait_ms, bool) or not isinstance(self.batch_wait_ms, int | float):
            raise ConfigError(f"batch_wait_ms must be a number, got {self.batch_wait_ms!r}")
        if not 0 <= self.batch_wait_ms <= 10_000:
            raise ConfigError(f"batch_wait_ms must lie in [0, 10000], got {self.batch_wait_ms!r}")
        if self.max_body_bytes is not None and (
            isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1
        ):
            raise ConfigError(f"max_body_bytes must be a positive integer, got {self.max_body_bytes!r}")

    @property
    def body_limit(self) -> int:
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return max(MIN_BODY_BYTES, 4 * self.max_context_chars + 64 * 1024)  # 4: longest UTF-8 character


class ApiError(Exception):
    """An error with its HTTP status, kind and field, raised by the endpoints."""

    def __init__(
        self, status: int, kind: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.field, self.headers = status, kind, message, field, headers


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parser lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body is over the limit of {limit:,} bytes")


# ---------------------------------------------------------------------- error mapping
SPANQA_ERROR_STATUS: list[tuple[type[SpanQAError], int, str]] = [
    (InputError, 422, "input_error"),
    (ConfigError, 422, "config_error"),
    (DataFileError, 422, "data_file_error"),
    (ModelFolderError, 503, "model_error"),
    (MissingExtraError, 501, "missing_extra"),
]


def _field_path(location: tuple[Any, ...] | list[Any]) -> str | None:
    parts = list(location[1:]) if location and location[0] == "body" else list(location)
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None


def _validation_message(error: dict[str, Any], field: str | None) -> str:
    kind, message = error.get("type", ""), str(error.get("msg", "invalid value"))
    if kind == "missing":
        return f"{field} is required" if field else "the request body is missing: send a JSON object"
    if kind == "extra_forbidden":
        return f"{field} is not a known field: check its spelling (see /docs for the fields)"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind in ("model_type", "model_attributes_type", "dict_type") and field is None:
        return "the request body must be a JSON object"
    return f"{field}: {message}" if field else message


def _from_validation(error: RequestValidationError) -> ApiError:
    errors = list(error.errors())
    if not errors:
        return ApiError(422, "validation_error", "the request is not valid")
    first = errors[0]
    if first.get("type") == "json_invalid":
        position = first.get("loc", ("body", "?"))[-1]
        reason = (first.get("ctx") or {}).get("error", "JSON decode error")
        return ApiError(400, "invalid_json", f"the body is not valid JSON: {reason} at character {position}")
    messages = [_validation_message(e, _field_path(e.get("loc", ()))) for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return ApiError(422, "validation_error", "; ".join(messages) + more, _field_path(first.get("loc", ())))


def _guess_field(message: str) -> str | None:
    first_word = message.split(" ", 1)[0]
    return first_word if first_word in ("question", "context", "top_k", "max_answer_len") else None


def api_error(error: BaseException, field_prefix: str = "") -> ApiError:
    """The ApiError for any exception; `field_prefix` (e.g. "requests[3]") locates batch items."""
    if isinstance(error, ApiError):
        result = error
    elif isinstance(error, RequestValidationError):
        result = _from_validation(error)
    elif isinstance(error, Overloaded):
        result = ApiError(503, "overloaded", str(error), headers={"Retry-After": str(error.retry_after)})
    elif isinstance(error, SpanQAError):
        status, kind = next(((s, k) for cls, s, k in SPANQA_ERROR_STATUS if isinstance(error, cls)), (422, "error"))
        result = ApiError(status, kind, str(error), _guess_field(str(error)))
    elif isinstance(error, BodyTooLarge):
        result = ApiError(413, "body_too_large", str(error.detail), headers={"Connection": "close"})
    elif isinstance(error, StarletteHTTPException):
        result = _from_http_exception(error)
    else:
        logger.error("unexpected error while answering", exc_info=error)
        result = ApiError(500, "internal_error", "the server failed on this request; its log has the details")
    if field_prefix:
        field = f"{field_prefix}.{result.field}" if result.field else field_prefix
        return ApiError(result.status, result.kind, f"{field_prefix}: {result.message}", field, result.headers)
    return result


def _from_http_exception(error: StarletteHTTPException) -> ApiError:
    kinds = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    kind = kinds.get(error.status_code, "http_error")
    message = str(error.detail)
    if error.status_code == 404:
        message = "no such endpoint: see /docs for the API"
    elif error.status_code == 400 and "parsing the body" in message:
        kind, message = "invalid_json", "the body is not valid UTF-8 JSON"
    return ApiError(error.status_code, kind, message, headers=getattr(error, "headers", None))


def error_response(error: ApiError) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(type=error.kind, message=error.message, field=error.field))
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


async def handle_error(request: Request, error: Exception) -> JSONResponse:
    """The one exception handler: every failure becomes {"error": {...}} with its status."""
    result = api_error(error)
    if result.status == 405:
        allowed = (result.headers or {}).get("Allow", "another method")
        result.message = f"{request.method} is not allowed on {request.url.path}: use {allowed}"
    return error_response(result)


# ---------------------------------------------------------------------- transport guard
def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class RequestGuard:
    """Refuse non-JSON bodies (415) and bodies over the limit (413), by header and as they stream in."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type = headers.get("content-type")
        if content_type is not None and not _is_json(content_type):
            message = (
                f"Content-Type {content_type!r} is not supported: send JSON with 'Content-Type: application/json' "
                "(with curl: -H 'Content-Type: application/json')"
            )
            await error_response(ApiError(415, "unsupported_media_type", message))(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                error = ApiError(400, "bad_request", f"Content-Length {declared!r} is not a number")
                await error_response(error)(scope, receive, send)
                return
            if int(declared) > self.max_body_bytes:
                error = api_error(BodyTooLarge(self.max_body_bytes))
                await error_response(error)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        await self.app(scope, limited_receive, send)


# ---------------------------------------------------------------------- state
# Between runs of the model the event loop parses and answers HTTP on the same cores, so ONNX
# Runtime's threads must not spin-wait there (bench/serve_load.py, 32 clients on 2 cores: 33
# questions/s served with spinning, 39 without).
SERVER_LOAD_OPTIONS = {"spin_wait": False}


class ServerState:
    def __init__(
        self, reader: Any, source: str | os.PathLike[str] | None, load_options: dict[str, Any], config: ServeConfig
    ):
        self.reader = reader
        self.source = source
        self.load_options = load_options
        self.config = config
        self.batcher: Batcher | None = None
        self.base_settings: ReaderSettings | None = None

    @property
    def ready(self) -> bool:
        return self.reader is not None and self.batcher is not None and self.batcher.running

    def require_ready(self) -> tuple[Any, Batcher]:
        if not self.ready or self.batcher is None:
            raise ApiError(503, "not_ready", "the model is not loaded yet: retry shortly", headers={"Retry-After": "5"})
        return self.reader, self.batcher

    def settings_for(self, request: AnswerRequest, field_prefix: str = "") -> ReaderSettings:
        limit = self.config.max_context_chars
        if len(request.context) > limit:
            field = f"{field_prefix}.context" if field_prefix else "context"
            raise ApiError(
                413,
                "context_too_long",
                f"{field} has {len(request.context):,} characters, over the server's limit of {limit:,} "
                "(max_context_chars): split the text, or start the server with a higher --max-context-chars",
                field,
            )
        assert self.base_settings is not None
        try:
            return self.base_settings.replace(**request.overrides())
        except ConfigError as error:
            raise api_error(error, field_prefix) from error


def _state(request: Request) -> ServerState:
    return request.app.state.spanqa


def _answers(answers: list[Answer] | tuple[Answer, ...]) -> list[AnswerOut]:
    return [AnswerOut(answer=a.text, score=a.score, start=a.start, end=a.end) for a in answers]


def _elapsed_ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000.0, 2)


# ---------------------------------------------------------------------- the app
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

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if state.reader is None:
            state.reader = await asyncio.to_thread(Reader.load, state.source, **state.load_options)
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

    app = FastAPI(
        title="spanqa",
        version=_version(),
        description=API_DESCRIPTION,
        lifespan=lifespan,
        responses={404: {"model": ErrorResponse, "description": "No such endpoint."}},
    )
    app.state.spanqa = state
    for error_class in (RequestValidationError, StarletteHTTPException, SpanQAError, ApiError, Overloaded, Exception):
        app.add_exception_handler(error_class, handle_error)
    app.add_middleware(RequestGuard, max_body_bytes=config.body_limit)
    _add_routes(app)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _version() -> str:
    from spanqa import __version__

    return __version__


def _add_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/health", response_model=StatusResponse, summary="Liveness: the process answers.")
    async def health() -> StatusResponse:
        return StatusResponse(status="ok")

    @app.get(
        "/ready",
        response_model=StatusResponse,
        summary="Readiness: 200 once the model is loaded, 503 before.",
        responses={503: {"model": StatusResponse}},
    )
    async def ready(request: Request) -> Any:
        if _state(request).ready:
            return StatusResponse(status="ready")
        return JSONResponse({"status": "loading"}, status_code=503, headers={"Retry-After": "5"})

    @app.get("/v1/model", response_model=ModelResponse, responses={503: ERROR_RESPONSES[503]})
    async def model(request: Request) -> ModelResponse:
        state = _state(request)
        reader, _ = state.require_ready()
        config = state.config
        return ModelResponse(
            name=reader.name,
            head=reader.info.head,
            runtime=type(reader.runtime).__name__,
            precision=getattr(reader.runtime, "precision", None),
            settings=reader.settings.to_dict(),
            scores=reader.info.extra.get("scores"),
            limits={
                "max_context_chars": config.max_context_chars,
                "max_body_bytes": config.body_limit,
                "max_batch": config.max_batch,
                "batch_wait_ms": config.batch_wait_ms,
                "max_queue": config.max_queue,
                "batch_max_requests": BATCH_MAX_REQUESTS,
                "top_k_max": TOP_K_MAX,
            },
        )

    @app.post("/v1/answer", response_model=AnswerResponse, responses=ERROR_RESPONSES, summary="Answer one question.")
    async def answer(body: AnswerRequest, request: Request) -> AnswerResponse:
        began = time.perf_counter()
        state = _state(request)
        reader, batcher = state.require_ready()
        settings = state.settings_for(body)
        [future] = batcher.submit([(Query(id="0", question=body.question, contexts=(body.context,)), settings)])
        try:
            prediction = await future
        except Exception as error:
            raise api_error(error) from None
        return AnswerResponse(answers=_answers(prediction.answers), model=reader.name, took_ms=_elapsed_ms(began))

    @app.post(
        "/v1/answer/batch",
        response_model=BatchResponse,
        responses=ERROR_RESPONSES,
        summary="Answer several questions; results come back in the order given.",
    )
    async def answer_batch(body: BatchRequest, request: Request) -> BatchResponse:
        began = time.perf_counter()
        state = _state(request)
        reader, batcher = state.require_ready()
        jobs = []
        for index, item in enumerate(body.requests):
            query = Query(id=str(index), question=item.question, contexts=(item.context,))
            jobs.append((query, state.settings_for(item, f"requests[{index}]")))
        outcomes = await asyncio.gather(*batcher.submit(jobs), return_exceptions=True)
        results = []
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, BaseException):
                raise api_error(outcome, f"requests[{index}]") from None
            results.append(BatchItem(answers=_answers(outcome.answers)))
        return BatchResponse(results=results, model=reader.name, took_ms=_elapsed_ms(began))

    @app.post(
        "/v1/explain",
        response_model=ExplainResponse,
        responses=ERROR_RESPONSES,
        summary="Answer one question and return P(start) and P(end) for every context token (a heat map).",
    )
    async def explain(body: AnswerRequest, request: Request) -> ExplainResponse:
        began = time.perf_counter()
        state = _state(request)
        reader, batcher = state.require_ready()
        settings = state.settings_for(body)
        try:
            result = await batcher.call(_explain, reader, body.question, body.context, settings)
        except Exception as error:
            raise api_error(error) from None
        return result.model_copy(update={"model": reader.name, "took_ms": _elapsed_ms(began)})


def _explain(reader: Reader, question: str, context: str, settings: ReaderSettings) -> ExplainResponse:
    """Runs on the inference thread: reader.explain, then its heat map (P(start), P(end) per context token)."""
    explanation = reader.explain(
        question,
        context,
        top_k=settings.top_k,
        max_answer_len=settings.max_answer_len,
        handle_impossible_answer=settings.handle_impossible_answer,
        max_context_chars=settings.max_context_chars,
    )
    heat = heat_map(explanation)
    return ExplainResponse(
        answers=_answers(explanation.answers),
        no_answer_probability=explanation.no_answer_probability,
        tokens=[TokenHeat(**dataclasses.asdict(token)) for token in heat.tokens],
        windows=[
            WindowHeat(
                index=window.index,
                char_start=window.char_start,
                char_end=window.char_end,
                tokens=[TokenHeat(**dataclasses.asdict(token)) for token in window.tokens],
            )
            for window in heat.windows
        ],
        model="",
        took_ms=0.0,
    )
