"""What one server holds: its limits (`ServeConfig`) and, once started, its reader and batcher, its classifier."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from spanqa.errors import ConfigError
from spanqa.inference.reader import Reader
from spanqa.serve.batcher import Batcher
from spanqa.serve.errors import ApiError, api_error
from spanqa.serve.ratelimit import RateLimit
from spanqa.serve.schemas import AnswerRequest
from spanqa.serve.served_index import ServedIndex
from spanqa.settings import ReaderSettings

MIN_BODY_BYTES = 8 * 1024 * 1024
# An allowed CORS origin: scheme://host[:port], exactly as a browser sends it in the Origin header.
ORIGIN_PATTERN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


@dataclass(frozen=True)
class ServeConfig:
    """Server limits, batching knobs and who may call how often (validated when built).

    The API keys are not here: they are handed to `create_app` apart, so that no repr, log line or
    `dataclasses.asdict` of a config ever holds one.
    """

    max_batch: int = 32
    batch_wait_ms: float = 5.0
    max_queue: int = 256
    max_context_chars: int = 100_000
    max_body_bytes: int | None = None  # None: room for one maximal context, at least 8 MiB
    rate_limit: str | None = None  # "10/s", "600/min": per API key, or per client address without keys
    rate_burst: int | None = None  # None: the count of rate_limit
    cors_origins: tuple[str, ...] = ()  # origins whose web pages may call the API; none by default

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
        if self.rate_limit is not None:
            RateLimit.parse(self.rate_limit, self.rate_burst)
        elif self.rate_burst is not None:
            raise ConfigError("rate_burst needs a rate_limit (e.g. --rate-limit 10/s --rate-burst 20)")
        if isinstance(self.cors_origins, str):
            raise ConfigError("cors_origins must be a list of origins, not one string")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        for origin in self.cors_origins:
            if origin != "*" and not (isinstance(origin, str) and ORIGIN_PATTERN.fullmatch(origin)):
                raise ConfigError(
                    f"cors origin {origin!r} is not an origin: write scheme://host[:port] with no path, "
                    "e.g. https://app.example.com or http://localhost:3000 (or * for any)"
                )

    @property
    def rate(self) -> RateLimit | None:
        return None if self.rate_limit is None else RateLimit.parse(self.rate_limit, self.rate_burst)

    @property
    def body_limit(self) -> int:
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return max(MIN_BODY_BYTES, 4 * self.max_context_chars + 64 * 1024)  # 4: longest UTF-8 character


class ServerState:
    """The reader (or where to load it from), the limits, and the batcher once the lifespan started it.

    A server serves a reader, a text classifier (`spanqa serve --classifier`, routes_classify.py), or both:
    `serves_reader` is False for a classifier alone, whose reader endpoints answer 409 `no_reader`.
    """

    def __init__(
        self,
        reader: Reader | None,
        source: str | os.PathLike[str] | None,
        load_options: dict[str, Any],
        config: ServeConfig,
    ) -> None:
        self.reader = reader
        self.source = source
        self.load_options = load_options
        self.config = config
        self.batcher: Batcher | None = None
        self.base_settings: ReaderSettings | None = None
        self.documents: ServedIndex | None = None  # the index of `spanqa serve --index` (routes_documents.py)
        self.serves_reader = True
        # The classifier (a loaded Classifier, or the folder to load at startup) and the one worker thread
        # it runs on (a Batcher used only through `call`: the model is not thread-safe, and the queue is bounded).
        self.classifier: Any = None
        self.classifier_source: str | os.PathLike[str] | None = None
        self.classifier_worker: Batcher | None = None

    @property
    def serves_classifier(self) -> bool:
        return self.classifier is not None or self.classifier_source is not None

    @property
    def classifier_ready(self) -> bool:
        worker = self.classifier_worker
        return self.classifier is not None and worker is not None and worker.running

    @property
    def ready(self) -> bool:
        """Every model this server serves is loaded and running."""
        reader_ready = self.reader is not None and self.batcher is not None and self.batcher.running
        return (reader_ready or not self.serves_reader) and (self.classifier_ready or not self.serves_classifier)

    def settings_for(self, request: AnswerRequest, field_prefix: str = "") -> ReaderSettings:
        """The reader settings for one request: 413 when its context is over max_context_chars."""
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


def no_reader_error() -> ApiError:
    """The 409 of the question-answering endpoints on a server that serves a text classifier alone."""
    return ApiError(
        409,
        "no_reader",
        "this server serves a text classifier only (POST /v1/classify): to answer questions too, start it with "
        "`spanqa serve --model READER_DIR --classifier CLASSIFIER_DIR`",
    )
