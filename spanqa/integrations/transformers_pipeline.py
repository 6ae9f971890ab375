"""`spanqa.pipeline("question-answering", model=...)`: a drop-in for the pipeline transformers 5.3 removed.

    from spanqa import pipeline                    # was: from transformers import pipeline
    qa = pipeline("question-answering", model="path/to/model")   # or "default", or a spanqa.Reader
    qa(question="Who wrote it?", context="It was written by Ada Lovelace in 1843.")
    # {'score': 0.98..., 'start': 18, 'end': 30, 'answer': 'Ada Lovelace'}

What stays as it was (checked against transformers 4.57.6 by tests/test_pipeline_vs_transformers4.py):

- every call form (see spanqa.integrations.transformers_inputs) and its nesting: one input gives one
  result, a list gives a list of results, a list of one gives one result (not a list of one), a
  generator gives an iterator; each result is a dict when there is exactly one answer and a list of
  dicts otherwise (so `top_k=3` gives a list, and a dict if only one answer exists);
- the answer dicts `{"score": float, "start": int, "end": int, "answer": str}`, offsets into the context;
- the keyword arguments `top_k` (and its deprecated alias `topk`), `doc_stride`, `max_answer_len`,
  `max_seq_len`, `max_question_len`, `handle_impossible_answer`, `align_to_words` and `batch_size`, to
  the call or to `pipeline(...)` as defaults, with the old defaults (`max_answer_len` 15, not spanqa's 30);
  the no-answer, with `handle_impossible_answer`, is `{"score": ..., "start": 0, "end": 0, "answer": ""}`
  ranked among the answers by its score;
- the answer on a context that fits in one window: the same text and offsets as before;
- a quirk of the old decoding, kept so that lengths match: when a window held fewer valid spans than
  the old pipeline looked at (2 * top_k + 10) and fewer than top_k answers were found, the answers
  ended with `{"score": 0.0, "start": 0, "end": 0, "answer": ""}` (so `top_k=3` on the context
  "Denver" gave a list of two). spanqa adds the same.

What differs, on purpose:

- scores. The old score of a span (i, j) was p_start(i) * p_end(j), two softmaxes over one window's
  tokens; spanqa's is one softmax over the logits start(i) + end(j) of every valid span of every window
  (see README, "What a score means"). On one window (at temperature 1) spanqa's score is the old score
  divided by the sum of the old scores of all valid spans (plus the old no-answer score with
  `handle_impossible_answer`): the same order, larger values, and answers from different windows or
  questions are comparable. A calibrated model folder (temperature != 1) rescales the logits first.
- bad input raises spanqa.InputError or spanqa.ConfigError (both ValueErrors) naming the argument and
  the fix, where the old pipeline raised KeyError/TypeError or silently ignored unknown keyword
  arguments (a typo such as `top_n=3` is now an error); a blank context is an error, not a score-0 answer.
- old arguments that mean nothing here are accepted at harmless values and refused otherwise:
  `device` (None, -1, "cpu"), `device_map` (None, "cpu"), `framework` (None, "pt"), `padding` (any
  old value: padding never changed an answer), `num_workers`, `use_fast` (True), `trust_remote_code`
  (False), `revision` ("main"), `token`/`use_auth_token` (None), `config`, `feature_extractor`,
  `image_processor`, `processor`, `pipeline_class`, `model_kwargs` and `binary_output` (None or empty);
  `dtype`/`torch_dtype` "auto", float32 or bfloat16 choose spanqa's precision. See
  spanqa.integrations.transformers_options.INERT_ARGUMENTS.
- `tokenizer=` must name the model folder (or be left out): spanqa reads the tokenizer from it.
- a lone `SquadExample` (which the old pipeline refused) is answered like a dict; questions longer than
  `max_question_len` tokens are cut (the old pipeline cut them only with slow tokenizers).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from spanqa.errors import InputError
from spanqa.inference.pipeline import decode_queries, model_logits
from spanqa.inference.reader import Reader
from spanqa.integrations.transformers_inputs import INPUT_KEYWORDS, Pair, parse_inputs
from spanqa.integrations.transformers_options import (
    batch_size_of,
    check_inert,
    dtype_precision,
    old_settings,
    resolve_topk_alias,
    split_options,
)
from spanqa.integrations.transformers_outputs import OldResult, needs_filler, old_result
from spanqa.model.folder import shipped_if_default
from spanqa.settings import ReaderSettings
from spanqa.types import Query

TASK = "question-answering"


class QuestionAnsweringPipeline:
    """A callable with the call forms and output shapes of transformers' old QuestionAnsweringPipeline.

    Built by `spanqa.pipeline("question-answering", model=...)`; answers with `reader` (a spanqa.Reader).
    Keyword `defaults` are call arguments applied to every call unless the call gives its own.
    """

    task = TASK

    def __init__(self, reader: Reader, **defaults: Any) -> None:
        self.reader = reader
        self.tokenizer = reader.tokenizer
        settings, batch = split_options(defaults)
        self.default_settings = resolve_topk_alias(settings)
        self.default_batch = batch
        # A bad default fails here, when the pipeline is built, rather than at its first call.
        self.settings_for(self.default_settings)
        batch_size_of(batch)

    def __repr__(self) -> str:
        return f"QuestionAnsweringPipeline(task={self.task!r}, model={self.reader.name!r})"

    def settings_for(self, given: dict[str, Any]) -> ReaderSettings:
        """The reader's settings with the old pipeline's windowing and decoding (`given` where set)."""
        limit = getattr(self.tokenizer, "model_max_length", None)
        token_limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
        return old_settings(self.reader.settings, given, token_limit)

    def __call__(self, *args: Any, **kwargs: Any) -> OldResult | list[OldResult] | Iterator[OldResult]:
        """Answer the question(s): `qa(question=..., context=...)`, `qa({...})`, `qa([{...}, ...])`, ..."""
        inputs = {name: kwargs.pop(name) for name in INPUT_KEYWORDS if name in kwargs}
        settings, batch = split_options(kwargs)
        chosen = self.settings_for({**self.default_settings, **resolve_topk_alias(settings)})
        batch_size = batch_size_of({**self.default_batch, **batch})
        parsed = parse_inputs(args, inputs)
        if parsed.lazy:
            return self.answer_lazily(parsed.pairs, chosen, batch_size)
        results = self.answer(parsed.pairs, chosen, batch_size)
        return results[0] if parsed.single else results

    def answer(self, pairs: Sequence[Pair], settings: ReaderSettings, batch_size: int) -> list[OldResult]:
        """The old result of each (question, context) pair, in order."""
        if not pairs:
            return []
        queries = [Query(id=str(index), question=q, contexts=(c,)) for index, (q, c) in enumerate(pairs)]
        # The stages one by one (what Reader.predict_queries runs): the windows tell whether to add the filler.
        per_query = model_logits(self.reader.runtime, self.reader.tokenizer, queries, settings, batch_size)
        predictions = decode_queries(queries, per_query, settings)
        return [
            old_result(prediction.answers, needs_filler(windows, len(prediction.answers), settings))
            for prediction, windows in zip(predictions, per_query, strict=True)
        ]

    def answer_lazily(self, pairs: Iterator[Pair], settings: ReaderSettings, batch_size: int) -> Iterator[OldResult]:
        """Results of a generator's pairs as they come, `batch_size` pairs at a time."""
        while chunk := list(itertools.islice(pairs, batch_size)):
            yield from self.answer(chunk, settings, batch_size)


def pipeline(
    task: str | None = None,
    model: str | os.PathLike[str] | Reader | None = None,
    config: Any = None,
    tokenizer: Any = None,
    *,
    backend: str = "auto",
    precision: str | None = None,
    threads: int | None = None,
    dtype: Any = None,
    torch_dtype: Any = None,
    **kwargs: Any,
) -> QuestionAnsweringPipeline:
    """transformers' `pipeline(...)` factory, for the "question-answering" task only.

    `model`: a model folder (any Hugging Face question-answering folder), "default" or None (the model
    shipped with spanqa), or a loaded spanqa.Reader. `tokenizer`: None or the same folder.
    `backend`, `precision` and `threads` are spanqa's (see Reader.load); `dtype`/`torch_dtype`
    "auto", float32 or bfloat16 set the precision as before. Other keyword arguments are call
    defaults (`top_k=3`, `max_answer_len=30`, `batch_size=16`, ...) or old arguments that mean nothing
    here (see this module's docstring); anything else is an InputError naming it.
    """
    if task != TASK:
        raise InputError(
            f"spanqa.pipeline does only the {TASK!r} task, not {task!r}: call pipeline({TASK!r}, model=...)"
        )
    check_inert("config", config)
    precision = _precision(precision, dtype, torch_dtype)
    _check_tokenizer(tokenizer, model)
    if isinstance(model, Reader):
        loading = {"backend": backend != "auto", "precision": precision is not None, "threads": threads is not None}
        given = [name for name, was_given in loading.items() if was_given]
        if given:
            raise InputError(
                f"{', '.join(given)} choose how spanqa loads a model, but model= is a loaded Reader: pass them to "
                "Reader.load, or pass the model folder as model="
            )
        return QuestionAnsweringPipeline(model, **kwargs)
    reader = Reader.load(_model_path(model), backend=backend, precision=precision or "auto", threads=threads)
    return QuestionAnsweringPipeline(reader, **kwargs)


def _precision(precision: str | None, dtype: Any, torch_dtype: Any) -> str | None:
    chosen = {"precision": precision}
    if dtype is not None:
        chosen["dtype"] = dtype_precision("dtype", dtype)
    if torch_dtype is not None:
        chosen["torch_dtype"] = dtype_precision("torch_dtype", torch_dtype)
    given = {name: value for name, value in chosen.items() if value is not None}
    if len(set(given.values())) > 1:
        raise InputError(f"{' and '.join(given)} ask for different precisions ({given}): give one of them")
    return next(iter(given.values()), None)


def _model_path(model: Any) -> str | os.PathLike[str] | None:
    if shipped_if_default(model) is None:
        return None
    if isinstance(model, str | os.PathLike):
        return model
    raise InputError(
        f"model= is a {type(model).__name__}: give a model folder, 'default' or a spanqa.Reader (for a transformers "
        "model object, save it with model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR), then pass DIR)"
    )


def _check_tokenizer(tokenizer: Any, model: Any) -> None:
    if tokenizer is None:
        return
    paths = isinstance(tokenizer, str | os.PathLike) and isinstance(model, str | os.PathLike)
    if paths and Path(tokenizer).expanduser().resolve() == Path(model).expanduser().resolve():
        return
    raise InputError(
        "tokenizer= must be left out or name the model folder: spanqa reads the tokenizer from the model folder "
        "(save yours there with tokenizer.save_pretrained(MODEL_DIR))"
    )
