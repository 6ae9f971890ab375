"""Questions over the server's index of documents (`spanqa serve --index`): POST /v1/ask, GET /v1/index.

Retrieval (SQLite BM25) runs on a worker thread, off the event loop; the retrieved passages of a
question then go to the batcher as one query with several contexts, so every span of every passage
competes in one softmax (as in `Index.ask`) and document questions share forward passes with the
other requests. A server started without an index answers these endpoints 409 `no_index`.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from spanqa.documents import DocumentAnswers
from spanqa.documents.answers import cited_answers, passages_query
from spanqa.serve.errors import ApiError, api_error
from spanqa.serve.routes import ERROR_RESPONSES, GET_ERROR_RESPONSES, ReadyServer, server_state
from spanqa.serve.schemas import NOT_BLANK, NOT_BLANK_PATTERN, QUESTION_MAX_CHARS, TOP_K_MAX, ErrorResponse, json_int
from spanqa.serve.served_index import ServedIndex

PASSAGES_MAX = 20  # each passage is up to a reader window or so: this bounds one request's cost
DEFAULT_TOP_K = 3
DEFAULT_PASSAGES = 5

NO_INDEX_RESPONSE = {
    409: {"model": ErrorResponse, "description": "The server was started without an index (--index)."}
}

router = APIRouter()


class AskRequest(BaseModel):
    """One question asked across the server's index."""

    model_config = ConfigDict(strict=True, extra="forbid")

    question: str = Field(
        max_length=QUESTION_MAX_CHARS,
        description="The question, in plain text (not only whitespace).",
        json_schema_extra=NOT_BLANK,
    )
    top_k: json_int(1, TOP_K_MAX) = Field(default=DEFAULT_TOP_K, description="How many answers to return, best first.")
    passages: json_int(1, PASSAGES_MAX) = Field(
        default=DEFAULT_PASSAGES, description="How many passages the search hands to the reader (more: slower)."
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if re.search(NOT_BLANK_PATTERN, value) is None:
            raise ValueError("question is empty or only whitespace: give some text")
        return value


class DocumentAnswerOut(BaseModel):
    answer: str = Field(description="The answer text, exactly the document's text[start:end]; '' for no answer.")
    score: float = Field(description="Probability of this answer among every span of every passage read.")
    no_answer: bool = Field(description="True for 'none of the passages holds the answer' (no document).")
    path: str | None = Field(description="The file the answer is in (null for the no-answer).")
    page: int | None = Field(description="1-based page for paged files (PDF), else null.")
    start: int = Field(description="Character offset of the answer in the document's extracted text.")
    end: int = Field(description="Character offset just past the answer in the document's text.")
    page_start: int = Field(description="Character offset of the answer in its page's text.")
    page_end: int = Field(description="Character offset just past the answer in its page's text.")
    passage: str = Field(description="The passage the answer was read from.")
    passage_start: int = Field(description="Where the passage begins in the document's text: the answer is "
                               "passage[start - passage_start:end - passage_start].")
    title: str = Field(description="The document's title, where the file has one.")
    document_id: int | None = Field(description="The document's id in the index (null for the no-answer).")
    document_key: str = Field(description="The record's key within its file (.jsonl), else ''.")


class AskResponse(BaseModel):
    question: str
    answers: list[DocumentAnswerOut]
    no_answer_probability: float = Field(description="P(none of the passages read holds the answer).")
    passages_read: int = Field(description="Passages the reader read; 0 when none shares a word with the question.")
    model: str = Field(description="Name of the model folder that answered.")
    took_ms: float = Field(description="Server time spent on this request, search and queueing included.")


class IndexResponse(BaseModel):
    folder: str = Field(description="The index folder the server answers from.")
    counts: dict[str, int] = Field(description="How many files, documents, pages and passages it holds.")
    limits: dict[str, int] = Field(description="Bounds of POST /v1/ask: top_k_max, passages_max, question_max_chars.")


def served_index(request: Request) -> ServedIndex:
    """The dependency of the document endpoints: 409 no_index on a server started without --index."""
    documents = server_state(request).documents
    if documents is None:
        raise ApiError(
            409,
            "no_index",
            "this server has no index of documents: build one with `spanqa index PATH... --index DIR`, "
            "then start the server with `spanqa serve --index DIR`",
        )
    return documents


Documents = Annotated[ServedIndex, Depends(served_index)]


@router.get(
    "/v1/index",
    response_model=IndexResponse,
    responses={**GET_ERROR_RESPONSES, **NO_INDEX_RESPONSE},
    summary="The index of documents this server answers from (409 when it has none).",
)
async def index_info(documents: Documents) -> IndexResponse:
    counts = await asyncio.to_thread(_read_index, documents.counts)
    return IndexResponse(
        folder=str(documents.folder),
        counts=counts,
        limits={"top_k_max": TOP_K_MAX, "passages_max": PASSAGES_MAX, "question_max_chars": QUESTION_MAX_CHARS},
    )


@router.post(
    "/v1/ask",
    response_model=AskResponse,
    responses={**ERROR_RESPONSES, **NO_INDEX_RESPONSE},
    summary="Answer a question from the server's documents, with file, page and offsets.",
)
async def ask(body: AskRequest, documents: Documents, server: ReadyServer) -> AskResponse:
    began = time.perf_counter()
    retrieved = tuple(await asyncio.to_thread(_read_index, documents.search, body.question, body.passages))
    result = DocumentAnswers(body.question, (), 1.0, ())  # nothing shares a word with the question
    if retrieved:
        assert server.state.base_settings is not None
        settings = server.state.base_settings.replace(top_k=body.top_k)
        query = passages_query(body.question, retrieved)
        [future] = server.batcher.submit([(query, settings)])
        try:
            prediction = await future
        except Exception as error:
            raise api_error(error) from None
        result = cited_answers(body.question, prediction, retrieved)
    payload: dict[str, Any] = result.to_dict()
    return AskResponse(**payload, model=server.reader.name, took_ms=round((time.perf_counter() - began) * 1000.0, 2))


def _read_index(read: Any, *args: Any) -> Any:
    """Run one read of the index; a database that fails (locked by a long rebuild, damaged) is a 503."""
    try:
        return read(*args)
    except sqlite3.Error as error:
        raise ApiError(
            503,
            "index_unavailable",
            f"the index could not be read ({error}): retry shortly; if it persists, rebuild it with `spanqa index`",
            headers={"Retry-After": "5"},
        ) from None

