"""A resumable batch job over a table of questions: the chunks still to do, the progress bar, the local engine.

Both engines share this: `plan_job` cuts the input into chunks and leaves out those whose part
is already written; the local engine (`run_local`) answers each remaining chunk with
`predict_table` in slices of `rows_per_batch` rows and writes its part; the Ray engine
(spanqa.distributed.job) sends the same chunks through the same function on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spanqa.data.parts import PartFormat, pending_chunks, write_part
from spanqa.data.tables import DEFAULT_ROWS_PER_PART, Chunk, plan_chunks, read_chunk
from spanqa.errors import InputError
from spanqa.inference.table import predict_table

DEFAULT_ROWS_PER_BATCH = 64


@dataclass(frozen=True)
class TableJob:
    """What a `spanqa predict` run into parts answers, how, and where it writes."""

    input: Path
    out: Path
    fmt: PartFormat = "parquet"
    rows_per_part: int = DEFAULT_ROWS_PER_PART
    rows_per_batch: int = DEFAULT_ROWS_PER_BATCH  # rows per predict_table call (a Ray batch)
    batch_size: int = 32  # windows per forward pass
    top_k: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    model: str = "default"

    def __post_init__(self) -> None:
        if isinstance(self.rows_per_batch, bool) or not isinstance(self.rows_per_batch, int) or self.rows_per_batch < 1:
            raise InputError(f"--rows-per-batch must be a positive integer, got {self.rows_per_batch!r}")

    def record(self) -> dict[str, Any]:
        """What must match for a second run to continue this one's parts (not how fast it runs)."""
        return {
            "input": str(self.input.resolve()),
            "model": self.model,
            "rows_per_part": self.rows_per_part,
            "top_k": self.top_k,
            "settings": {key: value for key, value in sorted(self.settings.items()) if value is not None},
        }


def plan_job(job: TableJob) -> tuple[list[Chunk], list[Chunk]]:
    """(every chunk, the chunks whose part is not written yet)."""
    chunks = plan_chunks(job.input, job.rows_per_part)
    return chunks, pending_chunks(job.out, chunks, job.fmt, job.record())


def slices(columns: dict[str, list[Any]], rows: int) -> Iterator[dict[str, list[Any]]]:
    total = len(columns["id"])
    for start in range(0, total, rows):
        yield {name: values[start : start + rows] for name, values in columns.items()}


def run_local(job: TableJob, pending: Sequence[Chunk], reader, progress: bool = True) -> int:
    """Answer and write every pending chunk in this process; the number of questions answered."""
    bar = progress_bar(sum(chunk.rows for chunk in pending), progress)
    answered = 0
    try:
        for chunk in pending:
            parts = []
            for piece in slices(read_chunk(chunk), job.rows_per_batch):
                parts.append(predict_table(piece, reader, top_k=job.top_k, batch_size=job.batch_size, **job.settings))
                bar.update(len(piece["id"]))
            joined = {name: [value for part in parts for value in part[name]] for name in parts[0]}
            write_part(job.out, chunk.name, job.fmt, joined)
            answered += chunk.rows
    finally:
        bar.close()
    return answered


class _NoBar:
    def update(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool, description: str = "predicting"):
    """A bar over questions with their rate and the time left (tqdm), or one that shows nothing."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="question", desc=description, dynamic_ncols=True, smoothing=0.1)
