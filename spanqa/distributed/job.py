"""`spanqa predict --engine ray`: the pending chunks of a TableJob answered on a Ray cluster, parts written here.

Workers read their chunks from the input path themselves (on a multi-node cluster it must be
storage every node sees) and send back only the answers, which are small; the driver gathers
each chunk's rows and writes its part atomically once all of them have come, so a part exists
whole or not at all and a restarted job skips it. Rows are keyed by (part, row number), so a
batch that Ray runs twice (after an actor died) cannot make an id appear twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from spanqa.data.parts import OUTPUT_COLUMNS, write_part
from spanqa.data.tables import Chunk, import_pyarrow, read_chunk
from spanqa.distributed.dataset import predict_dataset
from spanqa.distributed.ray_import import import_ray
from spanqa.errors import InputError, SpanQAError
from spanqa.inference.table_job import TableJob, progress_bar

PART_COLUMN, ROW_COLUMN = "_spanqa_part", "_spanqa_row"


def read_chunks(descriptors) -> Any:
    """A Ray Data map over chunk descriptors: each chunk's rows, tagged with their part and row number."""
    pa = import_pyarrow()
    tables = []
    for descriptor in descriptors.to_pylist():
        chunk = Chunk(**descriptor)
        columns = read_chunk(chunk)
        columns[PART_COLUMN] = [chunk.name] * chunk.rows
        columns[ROW_COLUMN] = list(range(chunk.rows))
        tables.append(pa.table(columns))
    return pa.concat_tables(tables)


def run_ray(
    job: TableJob,
    pending: Sequence[Chunk],
    *,
    model: str | None,
    backend: str,
    precision: str,
    address: str | None = None,
    workers: int = 1,
    cpus_per_worker: float = 1,
    progress: bool = True,
    actor_class: type | None = None,
) -> int:
    """Answer and write every pending chunk on the cluster at `address` (None: a local one); questions answered."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    try:
        check_cluster_fits(ray, workers, cpus_per_worker)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts questions, with a rate and the time left
        context.print_on_execution_start = False
        answered = answered_dataset(ray, job, pending, model, backend, precision, workers, cpus_per_worker, actor_class)
        return gather_and_write(job, pending, answered, progress)
    except SpanQAError:
        raise
    except Exception as error:
        cause = spanqa_cause(error)
        if cause is not None:
            raise plain_error(cause) from error
        raise
    finally:
        if started_here:
            ray.shutdown()


def answered_dataset(ray, job, pending, model, backend, precision, workers, cpus_per_worker, actor_class):
    descriptors = ray.data.from_items([chunk.to_dict() for chunk in pending], override_num_blocks=len(pending))
    # reading is light next to the model: it takes no CPU of its own, so the actors can hold every core
    rows = descriptors.map_batches(read_chunks, batch_size=1, batch_format="pyarrow", num_cpus=0)
    extra = {"actor_class": actor_class} if actor_class is not None else {}
    return predict_dataset(
        rows,
        model,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        rows_per_batch=job.rows_per_batch,
        batch_size=job.batch_size,
        top_k=job.top_k,
        backend=backend,
        precision=precision,
        **extra,
        **job.settings,
    )


def gather_and_write(job: TableJob, pending: Sequence[Chunk], answered, progress: bool) -> int:
    expected = {chunk.name: chunk.rows for chunk in pending}
    gathered: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in expected}
    bar = progress_bar(sum(expected.values()), progress)
    written = 0
    try:
        for batch in answered.iter_batches(batch_format="pyarrow", batch_size=None):
            touched = set()
            for row in batch.select([*OUTPUT_COLUMNS, PART_COLUMN, ROW_COLUMN]).to_pylist():
                part = row.pop(PART_COLUMN)
                if part in gathered:  # a part already written cannot take a second copy of a row
                    before = len(gathered[part])
                    gathered[part][row.pop(ROW_COLUMN)] = row
                    bar.update(len(gathered[part]) - before)
                    touched.add(part)
            for part in touched:
                if len(gathered[part]) == expected[part]:
                    done = gathered.pop(part)
                    rows = [done[number] for number in range(expected[part])]
                    write_part(job.out, part, job.fmt, {name: [r[name] for r in rows] for name in OUTPUT_COLUMNS})
                    written += expected[part]
    finally:
        bar.close()
    if gathered:
        raise InputError(f"the cluster returned no answers for some rows of part(s) {', '.join(sorted(gathered))}")
    return written


def check_cluster_fits(ray, workers: int, cpus_per_worker: float) -> None:
    """An actor pool larger than the cluster would wait forever: say so at once."""
    cpus = ray.cluster_resources().get("CPU", 0)
    if workers * cpus_per_worker > cpus:
        raise InputError(
            f"{workers} workers × {cpus_per_worker:g} CPUs need {workers * cpus_per_worker:g} CPUs but the Ray cluster "
            f"has {cpus:g}: lower --workers or --cpus-per-worker, or add nodes (ray start --address ...)"
        )


def spanqa_cause(error: BaseException) -> SpanQAError | None:
    """The SpanQAError a worker raised, found inside Ray's wrappers (a bad model folder, a bad file)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "cause", None)  # RayTaskError keeps the worker's exception here
        if isinstance(inner, BaseException):
            current = inner
            continue
        if isinstance(current, SpanQAError):
            return current
        current = current.__cause__ or current.__context__
    return None


def plain_error(cause: SpanQAError) -> SpanQAError:
    """The same error as spanqa's own class (Ray re-raises worker errors as a class that also derives from its own)."""
    kind = next(k for k in type(cause).__mro__ if k.__module__ == "spanqa.errors")
    return kind(str(cause))
