"""Read what is left of a request body before answering early, so that the client can read the answer.

When the server answers before reading the body (413 by Content-Length, 401, 429, 415, 404, ...)
and then closes the connection, the kernel resets it, because unread bytes are still waiting:
a client that sends its whole body before it reads (Python's urllib, requests, most simple
clients) gets "connection reset" instead of the answer. curl only sees the answer because it
asks with `Expect: 100-continue` first. So before the response starts, the rest of the body is
read and thrown away, up to DRAIN_MAX_BYTES and DRAIN_MAX_SECONDS; past those bounds the
response says `Connection: close` and the client may still see a reset (a body that large has no
business here).
"""

from __future__ import annotations

from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0


class DrainUnreadBody:
    """Before a response starts, read and discard the unread rest of the body (bounded)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DRAIN_MAX_BYTES, max_seconds: float = DRAIN_MAX_SECONDS):
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if headers is None or not _has_body(headers):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        # A client that sent `Expect: 100-continue` sends no body until something reads it.
        waits_for_continue = headers.get("expect", "").lower() == "100-continue"
        body: dict[str, Any] = {"received": 0, "done": False, "asked": False}

        async def tracked_receive() -> Message:
            body["asked"] = True
            message = await receive()
            _count(body, message)
            return message

        async def draining_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body["done"]:
                client_is_sending = body["asked"] or not waits_for_continue
                too_big = declared.isdigit() and int(declared) > self.max_bytes
                drained = client_is_sending and not too_big and await self._drain(receive, body)
                if not drained:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, tracked_receive, draining_send)

    async def _drain(self, receive: Receive, body: dict[str, Any]) -> bool:
        """True when the body was read to its end within the bounds."""
        with anyio.move_on_after(self.max_seconds):
            while not body["done"] and body["received"] <= self.max_bytes:
                _count(body, await receive())
        return body["done"] and body["received"] <= self.max_bytes


def _has_body(headers: Headers) -> bool:
    declared = headers.get("content-length")
    if declared is not None:
        return not declared.isdigit() or int(declared) > 0
    return "chunked" in headers.get("transfer-encoding", "").lower()


def _count(body: dict[str, Any], message: Message) -> None:
    if message["type"] == "http.request":
        body["received"] += len(message.get("body", b""))
        body["done"] = body["done"] or not message.get("more_body", False)
    else:  # http.disconnect: nothing more will come
        body["done"] = True
