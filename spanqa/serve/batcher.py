"""Dynamic batching: questions from many clients share one forward pass.

Requests join a bounded queue. A background task on the event loop takes up to `max_batch`
of them, waiting at most `batch_wait_ms` after the oldest one arrived for others to join
(under load the queue refills while the model runs, so batches form without waiting), and
runs the reader's batched path in one worker thread, off the event loop. Requests whose
reader settings differ (top_k, max_answer_len, handle_impossible_answer) are decoded in
separate groups, so every answer is what `Reader.ask` gives for that request alone.

When the queue is full, `submit` raises `Overloaded` at once (the server answers 503 with
Retry-After) instead of letting memory grow. `stop` refuses new work, then drains the queue.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from spanqa.errors import ConfigError
from spanqa.heap import release_free_heap
from spanqa.inference.pipeline import predict_queries
from spanqa.settings import ReaderSettings
from spanqa.types import Prediction, Query

T = TypeVar("T")


class Overloaded(Exception):
    """The queue is full or the server is shutting down: come back after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Item:
    query: Query
    settings: ReaderSettings
    future: asyncio.Future[Prediction]
    enqueued_at: float  # event-loop time


@dataclass
class BatcherStats:
    batches: int = 0
    items: int = 0
    largest_batch: int = 0
    rejected: int = 0


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


class Batcher:
    """Queue + background worker over the reader's pipeline (`spanqa.inference.pipeline.predict_queries`)."""

    def __init__(self, reader: Any, *, max_batch: int = 32, batch_wait_ms: float = 5.0, max_queue: int = 256) -> None:
        self.reader = reader
        self.max_batch = _positive_int("max_batch", max_batch)
        self.max_queue = _positive_int("max_queue", max_queue)
        if isinstance(batch_wait_ms, bool) or not isinstance(batch_wait_ms, int | float) or not batch_wait_ms >= 0:
            raise ConfigError(f"batch_wait_ms must be a number >= 0, got {batch_wait_ms!r}")
        self.batch_wait_s = float(batch_wait_ms) / 1000.0
        self.stats = BatcherStats()
        self._queue: deque[_Item] = deque()
        self._pending = 0  # admitted and not yet answered: queued, running, or in `call`
        self._closing = False
        self._seconds_per_item = 0.05  # running estimate, for Retry-After
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # guards the stats written from the worker thread

    # ------------------------------------------------------------------ life cycle
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    @property
    def pending(self) -> int:
        return self._pending

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spanqa-inference")
        self._task = asyncio.get_running_loop().create_task(self._work(), name="spanqa-batcher")

    async def stop(self) -> None:
        """Refuse new requests, answer every queued one, then release the worker thread."""
        if self._task is None:
            return
        self._closing = True
        assert self._wakeup is not None
        self._wakeup.set()
        await self._task
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)

    # ------------------------------------------------------------------ admission
    def _retry_after(self) -> int:
        return max(1, min(60, math.ceil(self._pending * self._seconds_per_item)))

    def _admit(self, count: int) -> None:
        if self._task is None or self._closing:
            raise Overloaded("the server is not accepting requests (starting or shutting down)", retry_after=1)
        # An empty queue always admits, so a batch larger than max_queue still gets served alone.
        if self._pending > 0 and self._pending + count > self.max_queue:
            self.stats.rejected += 1
            raise Overloaded(
                f"the server is busy ({self._pending} questions waiting, max_queue={self.max_queue}): retry shortly",
                retry_after=self._retry_after(),
            )

    def submit(self, requests: Sequence[tuple[Query, ReaderSettings]]) -> list[asyncio.Future[Prediction]]:
        """Queue the requests; each future resolves to its Prediction or to the error it raised."""
        self._admit(len(requests))
        loop = asyncio.get_running_loop()
        now = loop.time()
        items = [_Item(query, settings, loop.create_future(), now) for query, settings in requests]
        self._queue.extend(items)
        self._pending += len(items)
        assert self._wakeup is not None
        self._wakeup.set()
        return [item.future for item in items]

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` on the inference thread (one model user at a time), counted in the queue."""
        self._admit(1)
        self._pending += 1
        try:
            assert self._executor is not None
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        finally:
            self._pending -= 1

    # ------------------------------------------------------------------ the worker
    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None and self._executor is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._gather_window(loop)
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            live = [item for item in batch if not item.future.done()]  # skip requests whose client left
            try:
                if live:
                    outcomes = await loop.run_in_executor(self._executor, self._predict, live)
                    for item, outcome in zip(live, outcomes, strict=True):
                        if item.future.done():
                            continue
                        if isinstance(outcome, BaseException):
                            item.future.set_exception(outcome)
                        else:
                            item.future.set_result(outcome)
            except asyncio.CancelledError:
                for item in [*live, *self._queue]:
                    if not item.future.done():
                        item.future.set_exception(Overloaded("the server stopped before answering", retry_after=1))
                raise
            finally:
                self._pending -= len(batch)

    async def _gather_window(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until max_batch requests are queued or the oldest has waited batch_wait_ms."""
        assert self._wakeup is not None
        deadline = self._queue[0].enqueued_at + self.batch_wait_s
        while len(self._queue) < self.max_batch and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _predict(self, items: list[_Item]) -> list[Prediction | BaseException]:
        """Runs on the inference thread: one `predict_queries` call per group of equal settings."""
        import time

        began = time.perf_counter()
        outcomes: list[Prediction | BaseException | None] = [None] * len(items)
        groups: dict[ReaderSettings, list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault(item.settings, []).append(index)
        for settings, indices in groups.items():
            queries = [items[i].query for i in indices]
            try:
                predictions = self._run(queries, settings)
            except Exception as error:
                if len(indices) == 1:
                    outcomes[indices[0]] = error
                    continue
                # One bad request must not fail the others batched with it: answer them one by one.
                for i in indices:
                    try:
                        outcomes[i] = self._run([items[i].query], settings)[0]
                    except Exception as single_error:
                        outcomes[i] = single_error
                continue
            for i, prediction in zip(indices, predictions, strict=True):
                outcomes[i] = prediction
        release_free_heap()  # keeps the server's memory flat under load (see heap.py)
        elapsed = time.perf_counter() - began
        with self._lock:
            self.stats.batches += 1
            self.stats.items += len(items)
            self.stats.largest_batch = max(self.stats.largest_batch, len(items))
            self._seconds_per_item = 0.8 * self._seconds_per_item + 0.2 * (elapsed / len(items))
        return outcomes  # type: ignore[return-value]

    def _run(self, queries: list[Query], settings: ReaderSettings) -> list[Prediction]:
        return predict_queries(self.reader.runtime, self.reader.tokenizer, queries, settings, self.max_batch)
