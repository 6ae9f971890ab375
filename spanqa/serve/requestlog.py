"""The outermost layer of every request: its id, its access log line, and a JSON 500 for any escape.

The id (a sane incoming X-Request-ID, or a new one) is set for the request's task, returned in
the X-Request-ID header of every response and in every error body, and written in the log line
`client "METHOD /path" status duration id=... caller=...` (the caller is `key:<digest prefix>` or
`addr:<address>`: never a key). Query strings are not logged: nothing in this API needs one, and
that is where secrets end up when someone gets it wrong.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanqa.serve.access import REQUEST_INFO_KEY
from spanqa.serve.errors import api_error, error_response
from spanqa.serve.request_id import (
    REQUEST_ID_HEADER,
    request_id_from,
    reset_current_request_id,
    set_current_request_id,
)

access_logger = logging.getLogger("spanqa.serve.access")
MAX_LOGGED_PATH_CHARS = 512


def printable(text: str) -> str:
    """`text` with control and non-ASCII characters escaped, so a crafted path cannot forge log lines."""
    if not (text.isascii() and text.isprintable()):
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= MAX_LOGGED_PATH_CHARS else text[:MAX_LOGGED_PATH_CHARS] + "..."


class RequestContext:
    """Request ids, access log lines, and a JSON 500 (with the id) for any exception that gets this far."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get(REQUEST_ID_HEADER))
        info: dict[str, Any] = {"caller": None, "status": None}
        scope[REQUEST_INFO_KEY] = info
        token = set_current_request_id(request_id)
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                info["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if info["status"] is not None:  # the response has begun: nothing left to tell the client
                raise
            await error_response(api_error(error))(scope, receive, send_with_id)
        finally:
            if self.access_log:
                self._log(scope, info, request_id, began)
            reset_current_request_id(token)

    def _log(self, scope: Scope, info: dict[str, Any], request_id: str, began: float) -> None:
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else "-"
        duration_ms = round((time.perf_counter() - began) * 1000.0, 1)
        status = info["status"] if info["status"] is not None else "-"  # "-": the client left first
        access_logger.info(
            '%s "%s %s" %s %.1f ms id=%s caller=%s',
            address,
            scope["method"],
            printable(scope["path"]),
            status,
            duration_ms,
            request_id,
            info["caller"] or f"addr:{client[0] if client else '-'}",
            extra={
                "request_id": request_id,
                "client": address,
                "caller": info["caller"],
                "method": scope["method"],
                "path": printable(scope["path"]),
                "status": info["status"],
                "duration_ms": duration_ms,
            },
        )
