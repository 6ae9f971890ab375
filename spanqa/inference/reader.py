"""The Reader: load a model folder, answer questions. A few lines of glue over spanqa.inference.pipeline."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from spanqa.errors import InputError
from spanqa.inference import pipeline
from spanqa.inference.runtime import load_runtime
from spanqa.model.folder import ModelInfo
from spanqa.settings import ReaderSettings
from spanqa.types import Answer, Example, Prediction, Query


class Reader:
    """Answers questions from text with an extractive question-answering model.

    >>> reader = Reader.load()                       # the default model shipped with spanqa
    >>> reader.ask("Who wrote it?", "It was written by Ada.")[0].to_dict()
    """

    def __init__(self, runtime, tokenizer, info: ModelInfo, name: str = "model") -> None:
        self.runtime = runtime
        self.tokenizer = tokenizer
        self.info = info
        self.settings = info.settings
        self.name = name

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        backend: str = "auto",
        precision: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        spin_wait: bool = True,
        **settings: Any,
    ) -> Reader:
        """Load a question-answering model folder (None: the default model shipped with spanqa).

        `backend` is "torch", "onnx" or "auto"; `precision` "fp32", "bf16" (torch), "int8" (onnx) or
        "auto" (see spanqa.model.folder.resolve_backend: an ONNX folder runs on onnx).
        `threads` sets the CPU threads of the model (None: the runtime's default). `spin_wait=False`
        stops ONNX Runtime's threads from spinning between runs: slower when the model has the CPU
        to itself, faster where other work shares it (a server's HTTP handling). Keyword
        `settings` override the folder's reader defaults (see ReaderSettings).
        """
        loaded = load_runtime(
            path, backend=backend, precision=precision, device=device, threads=threads, spin_wait=spin_wait
        )
        info = loaded.info.replace(settings=loaded.info.settings.replace(**settings))
        return cls(loaded.runtime, loaded.tokenizer, info, name=Path(loaded.folder).name)

    def ask(
        self, question: str, context: str | Sequence[str], top_k: int | None = None, **settings: Any
    ) -> list[Answer]:
        """The top_k answers to `question` in `context` (one text, or several ranked together)."""
        query = Query(id="0", question=question, contexts=_contexts(context))
        [prediction] = self.predict_queries([query], self.settings.replace(top_k=top_k, **settings))
        return list(prediction.answers)

    def predict(
        self,
        examples: Iterable[Example | tuple[str, str]],
        batch_size: int = 32,
        progress: bool = False,
        top_k: int | None = None,
        **settings: Any,
    ) -> list[Prediction]:
        """Answer many questions at once; windows of all questions are batched together."""
        queries = [_query(index, item) for index, item in enumerate(examples)]
        return self.predict_queries(queries, self.settings.replace(top_k=top_k, **settings), batch_size, progress)

    def predict_queries(
        self,
        queries: Sequence[Query],
        settings: ReaderSettings | None = None,
        batch_size: int = 32,
        progress: bool = False,
        answers_per_context: int | None = None,
    ) -> list[Prediction]:
        """One Prediction per query with `settings` (None: the reader's); what the server's batcher calls.

        `answers_per_context`: each context keeps its N best answers before top_k applies (None: the top_k
        best of all contexts together, which one context can fill on its own).
        """
        chosen = self.settings if settings is None else settings
        return pipeline.predict_queries(
            self.runtime, self.tokenizer, queries, chosen, batch_size, progress, answers_per_context
        )

    def explain(self, question: str, context: str, top_k: int = 5, **settings: Any):
        """What happened inside: windows, tokens, top logits and the best candidate spans."""
        from spanqa.inference.explain import explain

        chosen = self.settings.replace(top_k=top_k, **settings)
        return explain(self.runtime, self.tokenizer, question, context, chosen)

    def save(self, folder: str | os.PathLike[str]) -> None:
        from spanqa.model.torch_io import save_model

        if not hasattr(self.runtime, "model"):
            raise InputError("this reader runs an exported ONNX model: copy its folder instead of saving it")
        save_model(self.runtime.model, self.tokenizer, self.info, folder)


def _contexts(context: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(context, str):
        return (context,)
    if isinstance(context, Sequence) and not isinstance(context, bytes | bytearray):
        if not context:
            raise InputError("context is empty: give at least one context")
        return tuple(context)
    raise InputError(f"context must be text or a list of texts, got {type(context).__name__}")


def _query(index: int, item: Example | tuple[str, str]) -> Query:
    if isinstance(item, Example):
        return Query.from_example(item)
    if isinstance(item, tuple | list) and len(item) == 2:
        return Query(id=str(index), question=item[0], contexts=(item[1],))
    raise InputError(f"item {index} is neither an Example nor a (question, context) pair")
