"""Read the retrieved passages and turn the reader's answers into citations.

The reader reads all retrieved passages of a question as one query with several contexts,
so every span of every passage competes in one softmax: a score of 0.6 in one file and 0.2
in another mean the same thing they mean within one text. The offsets of an answer are
moved from its passage to its document (and page), so that
`index.document(answer.document_id).text[answer.start:answer.end] == answer.text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from spanqa.errors import InputError
from spanqa.types import Prediction, Query

if TYPE_CHECKING:
    from spanqa.documents.store import StoredPassage
    from spanqa.inference.reader import Reader


class PassageSearch(Protocol):
    """What answering needs of an index: ranked passages for a question (`Index` is one)."""

    def search(self, question: str, k: int) -> Sequence[StoredPassage]: ...


@dataclass(frozen=True)
class DocumentAnswer:
    """An answer with its citation. The no-answer has text "" and no document."""

    text: str
    score: float
    document_id: int | None = None
    path: str | None = None
    document_key: str = ""
    title: str = ""
    page: int | None = None
    start: int = 0
    end: int = 0
    page_start: int = 0
    page_end: int = 0
    passage: str = ""
    passage_start: int = 0

    @property
    def is_no_answer(self) -> bool:
        return self.document_id is None

    @property
    def location(self) -> str:
        """`file:page` for paged documents, the file (and record key) otherwise."""
        if self.path is None:
            return "(no answer)"
        where = f"{self.path}#{self.document_key}" if self.document_key else self.path
        return f"{where}:{self.page}" if self.page is not None else where

    def to_dict(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "score": self.score,
            "no_answer": self.is_no_answer,
            "document_id": self.document_id,
            "path": self.path,
            "document_key": self.document_key,
            "title": self.title,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "passage": self.passage,
            "passage_start": self.passage_start,
        }


@dataclass(frozen=True)
class DocumentAnswers:
    """The answers to one question over an index, best first, and what they were read from."""

    question: str
    answers: tuple[DocumentAnswer, ...]
    no_answer_probability: float
    passages: tuple[StoredPassage, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "answers": [answer.to_dict() for answer in self.answers],
            "no_answer_probability": self.no_answer_probability,
            "passages_read": len(self.passages),
        }


def cite(answer_text: str, score: float, start: int, end: int, passage: StoredPassage) -> DocumentAnswer:
    """An answer found at [start, end) of `passage`, with offsets moved to its document and page."""
    document = passage.document
    page_offset = passage.page_start
    return DocumentAnswer(
        text=answer_text,
        score=score,
        document_id=document.id,
        path=document.path,
        document_key=document.key,
        title=document.title,
        page=passage.page if document.paged else None,
        start=passage.start + start,
        end=passage.start + end,
        page_start=page_offset + start,
        page_end=page_offset + end,
        passage=passage.text,
        passage_start=passage.start,
    )


def ask_index(
    reader: Reader, index: PassageSearch, question: str, top_k: int = 3, passages: int = 5, **settings
) -> DocumentAnswers:
    """Answer `question` from the `passages` best passages of `index`, with citations."""
    if passages < 1:
        raise InputError(f"--passages must be at least 1, got {passages}")
    retrieved = tuple(index.search(question, passages))
    if not retrieved:
        # No passage shares a word with the question: nothing was read, so there is no answer to rank.
        return DocumentAnswers(question, (), 1.0, ())
    chosen = reader.settings.replace(top_k=top_k, **settings)
    [prediction] = reader.predict_queries([passages_query(question, retrieved)], chosen)
    return cited_answers(question, prediction, retrieved)


def passages_query(question: str, retrieved: Sequence[StoredPassage]) -> Query:
    """The retrieved passages as one query with several contexts: every span competes in one softmax."""
    return Query(id="0", question=question, contexts=tuple(passage.text for passage in retrieved))


def cited_answers(question: str, prediction: Prediction, retrieved: Sequence[StoredPassage]) -> DocumentAnswers:
    """The reader's answers to `passages_query(question, retrieved)`, with their citations."""
    answers = tuple(
        DocumentAnswer(text="", score=answer.score)
        if answer.is_no_answer
        else cite(answer.text, answer.score, answer.start, answer.end, retrieved[answer.context_index])
        for answer in prediction.answers
    )
    return DocumentAnswers(question, answers, prediction.no_answer_probability, tuple(retrieved))
