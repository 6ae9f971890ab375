"""The Reader: load a model folder, answer questions. Glue over the three stages.

features.encode_windows -> runtime.run (length-sorted, dynamically padded batches)
-> decode.decode_example
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spanqa.decode import Decoded, DecodeOptions, WindowLogits, decode_example
from spanqa.errors import InputError
from spanqa.features import Window, encode_windows, length_sorted_batches, pad_windows
from spanqa.reader_inputs import check_text
from spanqa.settings import ModelInfo, ReaderSettings
from spanqa.types import Answer, Example, Prediction


@dataclass(frozen=True)
class Query:
    """One question asked of one or more contexts (the contexts are ranked together)."""

    id: str
    question: str
    contexts: tuple[str, ...]


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

    # ---------------------------------------------------------------- loading
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
        "auto" (see spanqa.runtime.onnx_runtime.resolve_backend: an ONNX folder runs on onnx).
        `threads` sets the CPU threads of the model (None: the runtime's default). `spin_wait=False`
        stops ONNX Runtime's threads from spinning between runs: slower when the model has the CPU
        to itself, faster where other work shares it (a server's HTTP handling). Keyword
        `settings` override the folder's reader defaults (see ReaderSettings).
        """
        from spanqa.runtime.onnx_runtime import resolve_backend

        backend, precision = resolve_backend(path, backend, precision)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        if backend == "onnx":
            from spanqa.runtime.onnx_runtime import load_onnx_reader_parts

            if device != "cpu":
                raise InputError(f"the onnx backend runs on the CPU only, not {device!r}: use backend 'torch'")
            runtime, tokenizer, info, folder = load_onnx_reader_parts(
                path, precision, threads=threads, spin_wait=spin_wait
            )
        elif backend == "torch":
            from spanqa.modelio import load_model
            from spanqa.runtime.torch_runtime import TorchRuntime

            loaded = load_model(path)
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
            runtime = TorchRuntime(loaded.model, precision=precision, device=device)
            tokenizer, info, folder = loaded.tokenizer, loaded.info, loaded.path
        else:
            raise InputError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        info = ModelInfo(info.head, info.settings.replace(**settings), info.extra)
        return cls(runtime, tokenizer, info, name=Path(folder).name)

    # ---------------------------------------------------------------- answering
    def ask(
        self, question: str, context: str | Sequence[str], top_k: int | None = None, **settings: Any
    ) -> list[Answer]:
        """The top_k answers to `question` in `context` (one text, or several ranked together)."""
        if isinstance(context, str):
            contexts: tuple[str, ...] = (context,)
        elif isinstance(context, Sequence) and not isinstance(context, bytes | bytearray):
            contexts = tuple(context)
        else:
            raise InputError(f"context must be text or a list of texts, got {type(context).__name__}")
        if not contexts:
            raise InputError("context is empty: give at least one context")
        query = Query(id="0", question=question, contexts=contexts)
        prediction = self._predict_queries([query], self.settings.replace(top_k=top_k, **settings), batch_size=32)[0]
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
        queries = []
        for index, item in enumerate(examples):
            if isinstance(item, Example):
                queries.append(Query(id=item.id, question=item.question, contexts=(item.context,)))
            elif isinstance(item, tuple | list) and len(item) == 2:
                queries.append(Query(id=str(index), question=item[0], contexts=(item[1],)))
            else:
                raise InputError(f"item {index} is neither an Example nor a (question, context) pair")
        return self._predict_queries(queries, self.settings.replace(top_k=top_k, **settings), batch_size, progress)

    def _predict_queries(
        self, queries: Sequence[Query], settings: ReaderSettings, batch_size: int, progress: bool = False
    ) -> list[Prediction]:
        per_query = self._logits_per_query(queries, settings, batch_size, progress)
        options = decode_options(settings)
        return [
            _prediction(query.id, decode_example(query_windows, query.contexts, options))
            for query, query_windows in zip(queries, per_query, strict=True)
        ]

    def _logits_per_query(
        self, queries: Sequence[Query], settings: ReaderSettings, batch_size: int, progress: bool = False
    ) -> list[list[WindowLogits]]:
        """The model's logits for every window of every query (the part of predicting that runs the model)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        pair_questions, pair_contexts, pair_owner = [], [], []
        for q, query in enumerate(queries):
            question = check_text(query.question, "question")
            for c, context in enumerate(query.contexts):
                pair_questions.append(question)
                pair_contexts.append(check_text(context, "context", settings.max_context_chars))
                pair_owner.append((q, c))
        per_query: list[list[WindowLogits]] = [[] for _ in queries]
        if not pair_questions:
            return per_query
        windows = encode_windows(self.tokenizer, pair_questions, pair_contexts, settings)
        logits = self._run_windows(windows, batch_size, progress)
        for window, (start, end) in zip(windows, logits, strict=True):
            q, c = pair_owner[window.example_index]
            per_query[q].append(_window_logits(window, start, end, c))
        return per_query

    def _run_windows(
        self, windows: Sequence[Window], batch_size: int, progress: bool = False
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Logits of every window, in input order; batches are length-sorted and padded to their longest."""
        if not self.runtime.batch_independent:
            batch_size = 1
        results: list[tuple[np.ndarray, np.ndarray]] = [None] * len(windows)  # type: ignore[list-item]
        bar = _progress_bar(len(windows), progress)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for indices in length_sorted_batches([w.length for w in windows], batch_size):
            batch_windows = [windows[i] for i in indices]
            start_logits, end_logits = self.runtime.run(pad_windows(batch_windows, pad_id))
            for row, index in enumerate(indices):
                length = windows[index].length
                end = end_logits[row, :length] if end_logits.ndim == 2 else end_logits[row, :length, :length]
                results[index] = (start_logits[row, :length], end)
            if bar is not None:
                bar.update(len(indices))
        if bar is not None:
            bar.close()
        return results

    # ---------------------------------------------------------------- introspection
    def explain(self, question: str, context: str, top_k: int = 5, **settings: Any):
        """What happened inside: windows, tokens, top logits and the best candidate spans."""
        from spanqa.explain import explain

        return explain(self, question, context, self.settings.replace(top_k=top_k, **settings))

    def save(self, folder: str | os.PathLike[str]) -> None:
        from spanqa.modelio import save_model

        if not hasattr(self.runtime, "model"):
            raise InputError("this reader runs an exported ONNX model: copy its folder instead of saving it")
        save_model(self.runtime.model, self.tokenizer, self.info, folder)


def decode_options(settings: ReaderSettings) -> DecodeOptions:
    return DecodeOptions(
        top_k=settings.top_k,
        max_answer_len=settings.max_answer_len,
        handle_impossible_answer=settings.handle_impossible_answer,
        null_threshold=settings.null_threshold,
        align_to_words=settings.align_to_words,
        temperature=settings.temperature,
    )


def _window_logits(window: Window, start: np.ndarray, end: np.ndarray, context_index: int) -> WindowLogits:
    return WindowLogits(
        start_logits=start,
        end_logits=end,
        context_mask=window.context_mask,
        offsets=window.offsets,
        word_offsets=window.word_offsets,
        cls_index=window.cls_index,
        context_index=context_index,
    )


def _prediction(example_id: str, decoded: Decoded) -> Prediction:
    return Prediction(
        example_id=example_id, answers=tuple(decoded.answers), no_answer_probability=decoded.no_answer_probability
    )


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="window", desc="predicting", dynamic_ncols=True)
