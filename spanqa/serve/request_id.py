"""The id of the request being answered: taken from a sane X-Request-ID header or made up.

It lives in a context variable for the request's task, so error bodies and log lines written
anywhere while the request is answered can name it without threading it through every call.
"""

from __future__ import annotations

import contextvars
import re
import uuid

REQUEST_ID_HEADER = "x-request-id"
# What a proxy or client may send: short, printable, no spaces or quotes (it goes into logs and headers).
INCOMING_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("spanqa_request_id", default=None)


def request_id_from(header_value: str | None) -> str:
    """The incoming id when it is sane, else a new random one (32 hex digits)."""
    if header_value is not None and INCOMING_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _current.get()


def set_current_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    return _current.set(request_id)


def reset_current_request_id(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)
