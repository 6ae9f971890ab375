"""`predict_dataset`: a Ray Dataset of questions in, a Ray Dataset of answers out."""

from __future__ import annotations

import math
from typing import Any

from spanqa.data.tables import check_columns
from spanqa.distributed.actor import ReaderActor
from spanqa.distributed.ray_import import import_ray
from spanqa.errors import InputError

DEFAULT_ROWS_PER_BATCH = 64


def predict_dataset(
    dataset,
    model: str | None = "default",
    *,
    workers: int = 1,
    cpus_per_worker: float = 1,
    rows_per_batch: int = DEFAULT_ROWS_PER_BATCH,
    batch_size: int = 32,
    top_k: int | None = None,
    backend: str = "auto",
    precision: str = "auto",
    actor_class: type = ReaderActor,
    **settings: Any,
):
    """Answer every row (id, question, context) of a Ray Dataset; a lazy Dataset of spanqa.data.parts.OUTPUT_COLUMNS.

    An actor pool of `workers` ReaderActors, each holding `cpus_per_worker` CPUs and running the
    model on as many threads, loads `model` once per actor. Each call gets `rows_per_batch` whole
    rows; `batch_size` is windows per forward pass inside it. An actor that dies (its process
    killed, its node lost) is restarted and its batch run again, so a lost worker costs time, not rows.
    Columns other than question and context pass through. `actor_class` swaps in a subclass of
    ReaderActor (tests use one that crashes once). `settings` are reader settings (ReaderSettings).
    """
    ray = import_ray()
    for name, value in (("workers", workers), ("rows_per_batch", rows_per_batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if not cpus_per_worker > 0:
        raise InputError(f"cpus_per_worker must be positive, got {cpus_per_worker!r}")
    schema = dataset.schema(fetch_if_missing=False)
    if schema is not None:
        check_columns(list(schema.names), "the dataset")
    return dataset.map_batches(
        actor_class,
        fn_constructor_kwargs={
            "model": model,
            "backend": backend,
            "precision": precision,
            # the model's threads match the CPUs Ray reserved for the actor (at least one)
            "threads": max(1, math.floor(cpus_per_worker)),
            "top_k": top_k,
            "batch_size": batch_size,
            "settings": settings,
        },
        batch_size=rows_per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        # Ray Data's defaults for actors (max_restarts=-1, max_task_retries=-1) restart an actor that died
        # and run its batch again; an exception the code raises is not retried (it would fail again).
    )
