"""The input forms of transformers' old question-answering pipeline, turned into (question, context) pairs.

Follows transformers 4.57.6's `QuestionAnsweringArgumentHandler` form by form:

- `qa(question=q, context=c)`; `qa(question=[q1, q2], context=c)` (every question of one context);
  `qa(question=[q1, q2], context=[c1, c2])` (pairs; the lengths must agree);
- `qa({"question": q, "context": c})`, a list (or tuple, or any iterable) of such dicts, or of
  `SquadExample`-like objects (anything with `question_text` and `context_text` attributes);
- positionally: `qa(q, c)` (two texts), `qa(item)`, `qa(item1, item2, ...)`;
- a generator of items, answered lazily: the result is an iterator, as before;
- the deprecated `X=` and `data=` keywords (with the old FutureWarning).

`single` marks what the old pipeline answered with one result instead of a list: every form that
comes down to exactly one pair, including a list of one (`qa([item])` gave a dict, not `[dict]`).
Unlike the old handler, a lone `SquadExample` (which it refused) is answered like a dict.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from spanqa.errors import InputError

INPUT_KEYWORDS = ("question", "context", "X", "data")
Pair = tuple[str, str]


@dataclass(frozen=True)
class ParsedInputs:
    """The pairs to answer: a list, or (for a generator) an iterator answered lazily."""

    pairs: list[Pair] | Iterator[Pair]
    single: bool  # one pair given: the old pipeline returned its result alone, not in a list

    @property
    def lazy(self) -> bool:
        return not isinstance(self.pairs, list)


def parse_inputs(args: tuple[Any, ...], keywords: dict[str, Any]) -> ParsedInputs:
    """The (question, context) pairs of one call; `keywords` holds only INPUT_KEYWORDS."""
    inputs = _raw_inputs(args, keywords)
    if isinstance(inputs, types.GeneratorType):
        return ParsedInputs(pairs=(normalize_item(item, index) for index, item in enumerate(inputs)), single=False)
    if isinstance(inputs, dict) or is_squad_like(inputs):
        inputs = [inputs]
    elif isinstance(inputs, str | bytes) or not isinstance(inputs, Iterable):
        raise InputError(
            f"cannot read the pipeline's input from a {type(inputs).__name__}: pass question= and context=, "
            "a {'question': ..., 'context': ...} dict, or a list of them"
        )
    pairs = [normalize_item(item, index) for index, item in enumerate(inputs)]
    return ParsedInputs(pairs=pairs, single=len(pairs) == 1)


def _raw_inputs(args: tuple[Any, ...], keywords: dict[str, Any]) -> Any:
    if args:
        if len(args) == 1:
            return args[0]
        if len(args) == 2 and all(isinstance(arg, str) for arg in args):
            return [{"question": args[0], "context": args[1]}]
        return list(args)
    for deprecated in ("X", "data"):
        if deprecated in keywords:
            warnings.warn(
                f"Passing the `{deprecated}` argument to the pipeline is deprecated: pass question= and context=",
                FutureWarning,
                stacklevel=4,
            )
            return keywords[deprecated]
    if "question" in keywords and "context" in keywords:
        return _keyword_pairs(keywords["question"], keywords["context"])
    if "question" in keywords or "context" in keywords:
        missing = "context" if "question" in keywords else "question"
        raise InputError(f"{missing}= is missing: the pipeline needs both question= and context=")
    raise InputError("no input given: call qa(question=..., context=...) or qa({'question': ..., 'context': ...})")


def _keyword_pairs(question: Any, context: Any) -> list[dict[str, Any]]:
    if isinstance(question, list | tuple) and isinstance(context, str):
        return [{"question": q, "context": context} for q in question]
    if isinstance(question, list | tuple) and isinstance(context, list | tuple):
        if len(question) != len(context):
            raise InputError(
                f"{len(question)} questions and {len(context)} contexts: give one context per question, "
                "or one context (a text) for all of them"
            )
        return [{"question": q, "context": c} for q, c in zip(question, context, strict=True)]
    if isinstance(question, str) and isinstance(context, str):
        return [{"question": question, "context": context}]
    raise InputError(
        f"question= ({type(question).__name__}) and context= ({type(context).__name__}) do not fit together: "
        "give a text and a text, a list of questions and one context, or two lists of the same length "
        "(to rank several contexts for one question, use spanqa.Reader.ask(question, [context, ...]))"
    )


def is_squad_like(item: Any) -> bool:
    """True for transformers' SquadExample and anything else with question_text and context_text."""
    return hasattr(item, "question_text") and hasattr(item, "context_text")


def normalize_item(item: Any, index: int) -> Pair:
    """One input item (a dict or a SquadExample-like object) as a checked (question, context) pair."""
    if is_squad_like(item):
        values = {"question": item.question_text, "context": item.context_text}
    elif isinstance(item, dict):
        missing = [key for key in ("question", "context") if key not in item]
        if missing:
            raise InputError(
                f"input {index} has no {' and no '.join(repr(key) for key in missing)} key: "
                "give dicts {'question': ..., 'context': ...}"
            )
        extra = sorted(str(key) for key in item if key not in ("question", "context"))
        if extra:
            raise InputError(
                f"input {index} has key(s) {', '.join(repr(key) for key in extra)} the pipeline does not take: "
                "give dicts with just 'question' and 'context'"
            )
        values = item
    else:
        raise InputError(
            f"input {index} is a {type(item).__name__}: each input must be a {{'question': ..., 'context': ...}} "
            "dict or a SquadExample"
        )
    for key in ("question", "context"):
        value = values[key]
        if value is None:
            raise InputError(f"input {index}: `{key}` cannot be None")
        if not isinstance(value, str):
            raise InputError(f"input {index}: `{key}` must be text, got {type(value).__name__}")
        if not value.strip():
            raise InputError(f"input {index}: `{key}` cannot be empty")
    return values["question"], values["context"]
