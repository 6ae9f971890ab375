"""The Ray Data actor: one Reader per actor, loaded once, answering whole rows with predict_table.

Ray builds one ReaderActor per worker of the actor pool and calls it with batches of rows (a
pyarrow Table). A row carries its question and its whole context, and predict_table cuts the
windows inside the call, so a question's windows never leave the worker that answers it.
This module imports no ray: the class is plain Python that Ray instantiates.
"""

from __future__ import annotations

from typing import Any


class ReaderActor:
    """Loads `model` once (with `threads` CPU threads: the CPUs Ray gave the actor) and answers batches."""

    def __init__(
        self,
        model: str | None = None,
        *,
        backend: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        top_k: int | None = None,
        batch_size: int = 32,
        settings: dict[str, Any] | None = None,
    ) -> None:
        from spanqa.inference.reader import Reader

        self.reader = Reader.load(model, backend=backend, precision=precision, threads=threads)
        self.top_k = top_k
        self.batch_size = batch_size
        self.settings = dict(settings or {})

    def __call__(self, batch):
        from spanqa.inference.table import predict_table

        return predict_table(batch, self.reader, top_k=self.top_k, batch_size=self.batch_size, **self.settings)
