"""The transport guard: content type and body size are checked before FastAPI parses a body."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spanqa.serve.errors import ApiError, BodyTooLarge, api_error, error_response


class RequestGuard:
    """Refuse non-JSON bodies (415) and bodies over the limit (413), by header and as they stream in."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(Headers(scope=scope))
        if refusal is not None:
            await error_response(refusal)(scope, receive, send)
            return
        received = 0

        # A body without Content-Length (chunked) is only caught by counting what streams in.
        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        await self.app(scope, limited_receive, send)

    def _refusal(self, headers: Headers) -> ApiError | None:
        """The error for the request's headers alone, or None when they let it through."""
        content_type = headers.get("content-type")
        if content_type is not None and not _is_json(content_type):
            message = (
                f"Content-Type {content_type!r} is not supported: send JSON with 'Content-Type: application/json' "
                "(with curl: -H 'Content-Type: application/json')"
            )
            return ApiError(415, "unsupported_media_type", message)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return ApiError(400, "bad_request", f"Content-Length {declared!r} is not a number")
            if int(declared) > self.max_body_bytes:
                return api_error(BodyTooLarge(self.max_body_bytes))
        return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
