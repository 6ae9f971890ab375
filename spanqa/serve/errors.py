"""Every error the server answers, whatever raised it, as `{"error": {"type", "message", "field", "request_id"}}`.

`api_error` turns any exception into an ApiError (status, kind, message, field, headers);
`handle_error` is the one exception handler the app installs. Our own faults are a bare 500,
never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from spanqa.errors import ConfigError, DataFileError, InputError, MissingExtraError, ModelFolderError, SpanQAError
from spanqa.serve.batcher import Overloaded
from spanqa.serve.request_id import current_request_id
from spanqa.serve.schemas import ErrorDetail, ErrorResponse

logger = logging.getLogger("spanqa.serve")


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


SPANQA_ERROR_STATUS: list[tuple[type[SpanQAError], int, str]] = [
    (InputError, 422, "input_error"),
    (ConfigError, 422, "config_error"),
    (DataFileError, 422, "data_file_error"),
    (ModelFolderError, 503, "model_error"),
    (MissingExtraError, 501, "missing_extra"),
]

# What the app routes to `handle_error` (Exception last: anything else is a 500).
HANDLED_ERRORS: tuple[type[Exception], ...] = (
    RequestValidationError,
    StarletteHTTPException,
    SpanQAError,
    ApiError,
    Overloaded,
    Exception,
)


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


def error_response(error: ApiError) -> JSONResponse:
    detail = ErrorDetail(type=error.kind, message=error.message, field=error.field, request_id=current_request_id())
    body = ErrorResponse(error=detail)
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


async def handle_error(request: Request, error: Exception) -> JSONResponse:
    """The one exception handler: every failure becomes {"error": {...}} with its status."""
    result = api_error(error)
    if result.status == 405:
        allowed = (result.headers or {}).get("Allow", "another method")
        result.message = f"{request.method} is not allowed on {request.url.path}: use {allowed}"
    return error_response(result)


# ---------------------------------------------------------------------- validation errors
def _from_validation(error: RequestValidationError) -> ApiError:
    """400 invalid_json for a body that does not parse, else 422 naming the first field at fault."""
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


def _guess_field(message: str) -> str | None:
    first_word = message.split(" ", 1)[0]
    return first_word if first_word in ("question", "context", "top_k", "max_answer_len") else None


def _from_http_exception(error: StarletteHTTPException) -> ApiError:
    kinds = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    kind = kinds.get(error.status_code, "http_error")
    message = str(error.detail)
    if error.status_code == 404:
        message = "no such endpoint: see /docs for the API"
    elif error.status_code == 400 and "parsing the body" in message:
        kind, message = "invalid_json", "the body is not valid UTF-8 JSON"
    return ApiError(error.status_code, kind, message, headers=getattr(error, "headers", None))
