"""Who may call the API, and how often: API keys (401) and rate limits (429), before any body is read.

Only the API under /v1/ is guarded. /health and /ready stay open for load balancers and
orchestrators; the web page, its static files, /docs and /openapi.json stay open too: they hold
no data (the page asks for a key when the API wants one) and the schema is the public contract.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from spanqa.serve.auth import ApiKeys
from spanqa.serve.errors import ApiError, error_response
from spanqa.serve.ratelimit import TokenBuckets

GUARDED_PREFIX = "/v1/"
# Where the access log line finds who called (RequestContext puts the dict in the scope).
REQUEST_INFO_KEY = "spanqa.request"


class AccessGuard:
    """401 for a missing or wrong `Authorization: Bearer KEY` (when keys are set), 429 over the rate limit."""

    def __init__(self, app: ASGIApp, api_keys: ApiKeys | None, buckets: TokenBuckets | None) -> None:
        self.app = app
        self.api_keys = api_keys
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED_PREFIX):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        caller = f"addr:{client[0]}" if client else "addr:unknown"
        if self.api_keys is not None:
            key_name, refusal = self._authenticate(Headers(scope=scope))
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
            caller = key_name or caller
        info = scope.get(REQUEST_INFO_KEY)
        if isinstance(info, dict):
            info["caller"] = caller
        if self.buckets is not None:
            wait_s = self.buckets.take(caller)
            if wait_s:
                limit = self.buckets.limit
                message = (
                    f"too many requests: this client may send {limit.per_second:g} a second "
                    f"(bursts of {limit.burst}); retry after {wait_s} s"
                )
                refusal = ApiError(429, "rate_limited", message, headers={"Retry-After": str(wait_s)})
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _authenticate(self, headers: Headers) -> tuple[str | None, ApiError | None]:
        """(the key's name, None) for a good key, else (None, the 401). Messages never repeat the key."""
        assert self.api_keys is not None
        authorization = headers.get("authorization")
        if authorization is None:
            return None, _unauthorized(
                "missing API key: send the header 'Authorization: Bearer YOUR_KEY' "
                "(with curl: -H 'Authorization: Bearer YOUR_KEY')",
                'Bearer realm="spanqa"',
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None, _unauthorized(
                "the Authorization header must be 'Bearer YOUR_KEY' (other schemes are not accepted)",
                'Bearer realm="spanqa", error="invalid_request"',
            )
        key_name = self.api_keys.identify(token)
        if key_name is None:
            return None, _unauthorized(
                "the API key is not valid: check it, or ask the server's operator for one",
                'Bearer realm="spanqa", error="invalid_token"',
            )
        return key_name, None


def _unauthorized(message: str, challenge: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})
