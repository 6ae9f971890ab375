"""Rate limits: one token bucket per client (an API key, or an address when the server has no keys).

A limit like "10/s" or "600/min" refills that many tokens per period; a bucket holds at most
`burst` tokens (by default the count of the limit: "600/min" allows 600 at once, then 10 a second).
Each request takes one token; a request that finds none is refused with the whole seconds until
one is back (the 429's Retry-After). Buckets of clients gone quiet are full, and a full bucket is
the same as none, so they are dropped when there are many: memory stays bounded whatever the
number of addresses that call.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from spanqa.errors import ConfigError

PERIOD_SECONDS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
RATE_PATTERN = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*")
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: int

    @classmethod
    def parse(cls, text: str, burst: int | None = None) -> RateLimit:
        """ "10/s", "600/min", "5000/h" -> a RateLimit; `burst` defaults to the count (10, 600, 5000)."""
        match = RATE_PATTERN.fullmatch(text.lower()) if isinstance(text, str) else None
        if match is None or match.group(2) not in PERIOD_SECONDS:
            raise ConfigError(f"rate_limit {text!r} is not a rate: write COUNT/PERIOD, e.g. 10/s, 600/min or 5000/h")
        count = float(match.group(1))
        if count <= 0:
            raise ConfigError(f"rate_limit {text!r} must allow more than 0 requests")
        if burst is None:
            burst = max(1, math.ceil(count))
        elif isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigError(f"rate_burst must be a positive integer, got {burst!r}")
        return cls(per_second=count / PERIOD_SECONDS[match.group(2)], burst=burst)


class TokenBuckets:
    """`take(client)`: 0 when the client may go ahead, else the whole seconds until it may."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic, max_buckets: int = MAX_BUCKETS):
        self.limit = limit
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> int:
        now = self.clock()
        tokens = self._tokens(client, now)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            self._buckets.move_to_end(client)
            self._prune(now)
            return 0
        self._buckets[client] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.limit.per_second))

    def _tokens(self, client: str, now: float) -> float:
        if client not in self._buckets:
            return float(self.limit.burst)
        tokens, at = self._buckets[client]
        return min(float(self.limit.burst), tokens + (now - at) * self.limit.per_second)

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= self.max_buckets:
            return
        for client in [c for c in self._buckets if self._tokens(c, now) >= self.limit.burst]:
            del self._buckets[client]
        # All busy: forget the least recently seen, down to 90% so the scan above is rare.
        while len(self._buckets) > self.max_buckets * 0.9:
            self._buckets.popitem(last=False)
