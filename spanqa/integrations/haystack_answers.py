"""spanqa's answers as Haystack ExtractedAnswers, in ExtractiveReader's order, with its page numbers and overlap rule.

Plain functions of a spanqa Prediction (no model), so each rule is tested on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from spanqa.errors import MissingExtraError

try:
    from haystack import Document, ExtractedAnswer
except ImportError as error:  # pragma: no cover - the component's module gives the same message first
    raise MissingExtraError(
        'spanqa.integrations.haystack needs Haystack (haystack-ai): pip install "spanqa[haystack]"'
    ) from error

from spanqa.types import Answer, Prediction

__all__ = ["answer_page_number", "extracted_answers", "remove_overlapping"]

logger = logging.getLogger(__name__)


def extracted_answers(
    query: str,
    documents: Sequence[Document],
    prediction: Prediction,
    top_k: int,
    score_threshold: float | None,
    no_answer: bool,
    overlap_threshold: float | None,
) -> list[ExtractedAnswer]:
    """ExtractiveReader's output from a spanqa Prediction whose contexts were `documents`' contents.

    The order of operations is ExtractiveReader's: best first, overlap removal, top_k, the no-answer
    joins, sorted again, then score_threshold (which can drop the no-answer too).
    """
    spans = [answer for answer in prediction.answers if not answer.is_no_answer]
    answers = [_extracted_answer(query, documents[span.context_index], span) for span in spans]
    answers = remove_overlapping(answers, overlap_threshold)[:top_k]
    if no_answer:
        answers.append(ExtractedAnswer(query=query, score=prediction.no_answer_probability, data=None, meta={}))
    answers.sort(key=lambda answer: answer.score, reverse=True)  # stable: ties keep the no-answer last
    if score_threshold is not None:
        answers = [answer for answer in answers if answer.score >= score_threshold]
    return answers


def _extracted_answer(query: str, document: Document, span: Answer) -> ExtractedAnswer:
    meta = {}
    page = answer_page_number(document, span.start)
    if page is not None:
        meta["answer_page_number"] = page
    return ExtractedAnswer(
        query=query,
        score=span.score,
        data=span.text,
        document=document,
        document_offset=ExtractedAnswer.Span(span.start, span.end),
        meta=meta,
    )


def answer_page_number(document: Document, start: int) -> int | None:
    """The page an answer starting at character `start` is on, as ExtractiveReader computes it.

    A document's `meta["page_number"]` is the page it starts on (Haystack's converters and DocumentSplitter
    set it); every form feed ("\\f", a page break) before the answer adds one. None without an int page_number.
    """
    page_number = document.meta.get("page_number")
    if page_number is None:
        return None
    if isinstance(page_number, bool) or not isinstance(page_number, int):
        logger.warning(
            "document %s has a page_number of type %s, not int: its answers get no answer_page_number",
            document.id,
            type(page_number).__name__,
        )
        return None
    return page_number + document.content[:start].count("\f")


def remove_overlapping(answers: Sequence[ExtractedAnswer], overlap_threshold: float | None) -> list[ExtractedAnswer]:
    """Drop each answer that overlaps a better answer of the same document by more than `overlap_threshold`.

    The overlap is a fraction of either answer's length, as in ExtractiveReader's deduplicate_by_overlap
    ("the river" inside "in the river in Maine" overlaps 100%); None keeps every answer. `answers` are best first.
    """
    if overlap_threshold is None:
        return list(answers)
    kept: list[ExtractedAnswer] = []
    for candidate in answers:
        if not any(_overlap_fraction(candidate, better) > overlap_threshold for better in kept):
            kept.append(candidate)
    return kept


def _overlap_fraction(first: ExtractedAnswer, second: ExtractedAnswer) -> float:
    """The larger share of either answer that the other covers (0 for different documents)."""
    if first.document is None or second.document is None or first.document.id != second.document.id:
        return 0.0
    if first.document_offset is None or second.document_offset is None:
        return 0.0
    a, b = first.document_offset, second.document_offset
    # ExtractiveReader counts spans that only touch (a.end == b.start) as overlapping by 0 characters.
    overlap = max(0, min(a.end, b.end) - max(a.start, b.start))
    if overlap == 0:
        return 0.0
    return max(overlap / (a.end - a.start), overlap / (b.end - b.start))
