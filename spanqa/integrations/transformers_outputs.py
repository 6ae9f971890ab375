"""spanqa's answers in the output shapes of transformers' old question-answering pipeline.

A question's result was a dict when it had exactly one answer and a list of dicts otherwise (so
`top_k=3` gives a list, and a dict when only one answer exists); each dict is
{"score": float, "start": int, "end": int, "answer": str}, keys in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spanqa.inference.decode import WindowLogits
from spanqa.settings import ReaderSettings
from spanqa.types import Answer

OldResult = dict[str, Any] | list[dict[str, Any]]


def old_answer(answer: Answer) -> dict[str, Any]:
    """One answer in the old pipeline's dict, keys in its order."""
    return {"score": float(answer.score), "start": int(answer.start), "end": int(answer.end), "answer": answer.text}


# What the old pipeline added when a window had fewer valid spans than it looked at (see `needs_filler`).
FILLER = {"score": 0.0, "start": 0, "end": 0, "answer": ""}


def old_result(answers: Sequence[Answer], filler: bool = False) -> OldResult:
    """One question's answers as the old pipeline returned them: a dict for exactly one answer, else a list."""
    dicts = [old_answer(answer) for answer in answers]
    if filler:
        dicts.append(dict(FILLER))
    return dicts[0] if len(dicts) == 1 else dicts


def valid_span_count(context_tokens: int, max_answer_len: int) -> int:
    """Spans (i, j), i <= j < i + max_answer_len, of `context_tokens` consecutive context tokens."""
    if context_tokens <= max_answer_len:
        return context_tokens * (context_tokens + 1) // 2
    return context_tokens * max_answer_len - max_answer_len * (max_answer_len - 1) // 2


def needs_filler(windows: Sequence[WindowLogits], answers: int, settings: ReaderSettings) -> bool:
    """Whether the old pipeline's answers to this question ended with {"score": 0.0, ..., "answer": ""}.

    It took the 2 * top_k + 10 best spans of each window (top_k without align_to_words) from a
    matrix that holds every span; a window with fewer valid spans than that gave spans of score 0,
    which became one empty answer of score 0.0, kept when fewer than top_k answers were found.
    """
    if answers >= settings.top_k:
        return False
    looked_at = 2 * settings.top_k + 10 if settings.align_to_words else settings.top_k
    return any(
        valid_span_count(int(window.context_mask.sum()), settings.max_answer_len) < looked_at for window in windows
    )
