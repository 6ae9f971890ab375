"""The server's log lines: plain text or one JSON object per line, each naming its request id.

`log_config(level, log_format)` is the `logging.config.dictConfig` dict `spanqa serve` hands to
uvicorn: uvicorn's own messages and spanqa's (the access log included) go to stderr in one format.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Literal

from spanqa.serve.request_id import current_request_id

LogFormat = Literal["text", "json"]
LOG_FORMATS = ("text", "json")
# Fields of the access log's records (`extra=`) that the JSON formatter writes out.
ACCESS_FIELDS = ("client", "caller", "method", "path", "status", "duration_ms")


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id`: the one being answered, or None outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`LEVEL:    message [request id]`, like uvicorn's own lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname + ':':<9} {record.getMessage()}"
        request_id = getattr(record, "request_id", None)
        if request_id is not None and record.name != "spanqa.serve.access":  # access lines carry it already
            line += f" [request {request_id}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_config(level: str = "info", log_format: LogFormat = "text") -> dict[str, Any]:
    """The dictConfig for uvicorn's and spanqa's loggers, all to stderr in `log_format`."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "spanqa"}
    handler["filters"] = ["request_id"]
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"spanqa": {"()": formatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},  # spanqa logs access itself
            "spanqa": {"handlers": ["stderr"], "level": upper, "propagate": False},
        },
    }
