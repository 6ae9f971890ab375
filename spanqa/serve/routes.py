"""The endpoints. Each asks `ready_state` for the loaded reader and batcher (503 not_ready before)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse

from spanqa.inference.explain import heat_map
from spanqa.inference.reader import Reader
from spanqa.serve.batcher import Batcher
from spanqa.serve.errors import ApiError, api_error
from spanqa.serve.schemas import (
    BATCH_MAX_REQUESTS,
    TOP_K_MAX,
    AnswerOut,
    AnswerRequest,
    AnswerResponse,
    BatchItem,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    ExplainResponse,
    ModelResponse,
    StatusResponse,
    TokenHeat,
    WindowHeat,
)
from spanqa.serve.state import ServerState, no_reader_error
from spanqa.settings import ReaderSettings
from spanqa.types import Answer, Query

STATIC_DIR = Path(__file__).parent / "static"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Invalid JSON.",
        401: "The server has API keys and the request has none, or a wrong one (see WWW-Authenticate).",
        409: "The server does not serve this kind of model (a text classifier alone has no reader).",
        413: "Body or context too large.",
        415: "Content-Type is not application/json.",
        422: "A field is missing, mistyped or out of range.",
        429: "Over the rate limit; see the Retry-After header.",
        503: "Busy or not ready; see the Retry-After header.",
    }.items()
}
# What a GET under /v1/ can answer besides 200.
GET_ERROR_RESPONSES = {code: ERROR_RESPONSES[code] for code in (401, 409, 429, 503)}

router = APIRouter()


@dataclass(frozen=True)
class Ready:
    """What an endpoint gets from `ready_state`: the server state, its loaded reader and running batcher."""

    state: ServerState
    reader: Reader
    batcher: Batcher


def server_state(request: Request) -> ServerState:
    return request.app.state.spanqa


async def ready_state(request: Request) -> Ready:
    """The dependency of every model endpoint: 503 not_ready (Retry-After: 5) until the model is loaded."""
    state = server_state(request)
    if not state.serves_reader:
        raise no_reader_error()
    if state.reader is None or state.batcher is None or not state.batcher.running:
        raise ApiError(503, "not_ready", "the model is not loaded yet: retry shortly", headers={"Retry-After": "5"})
    return Ready(state, state.reader, state.batcher)


ReadyServer = Annotated[Ready, Depends(ready_state)]


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/health", response_model=StatusResponse, summary="Liveness: the process answers.")
async def health() -> StatusResponse:
    return StatusResponse(status="ok")


@router.get(
    "/ready",
    response_model=StatusResponse,
    summary="Readiness: 200 once the model is loaded, 503 before.",
    responses={503: {"model": StatusResponse}},
)
async def ready(request: Request) -> Any:
    if server_state(request).ready:
        return StatusResponse(status="ready")
    return JSONResponse({"status": "loading"}, status_code=503, headers={"Retry-After": "5"})


@router.get("/v1/model", response_model=ModelResponse, responses=GET_ERROR_RESPONSES)
async def model(server: ReadyServer) -> ModelResponse:
    reader, config = server.reader, server.state.config
    return ModelResponse(
        name=reader.name,
        head=reader.info.head,
        runtime=type(reader.runtime).__name__,
        precision=getattr(reader.runtime, "precision", None),
        settings=reader.settings.to_dict(),
        scores=reader.info.extra.get("scores"),
        limits={
            "max_context_chars": config.max_context_chars,
            "max_body_bytes": config.body_limit,
            "max_batch": config.max_batch,
            "batch_wait_ms": config.batch_wait_ms,
            "max_queue": config.max_queue,
            "batch_max_requests": BATCH_MAX_REQUESTS,
            "top_k_max": TOP_K_MAX,
        },
    )


@router.post(
    "/v1/answer",
    response_model=AnswerResponse,
    responses=ERROR_RESPONSES,
    summary="Answer one question.",
)
async def answer(body: AnswerRequest, server: ReadyServer) -> AnswerResponse:
    began = time.perf_counter()
    query = Query(id="0", question=body.question, contexts=(body.context,))
    [future] = server.batcher.submit([(query, server.state.settings_for(body))])
    try:
        prediction = await future
    except Exception as error:
        raise api_error(error) from None
    return AnswerResponse(answers=_answers(prediction.answers), model=server.reader.name, took_ms=_elapsed_ms(began))


@router.post(
    "/v1/answer/batch",
    response_model=BatchResponse,
    responses=ERROR_RESPONSES,
    summary="Answer several questions; results come back in the order given.",
)
async def answer_batch(body: BatchRequest, server: ReadyServer) -> BatchResponse:
    began = time.perf_counter()
    jobs = []
    for index, item in enumerate(body.requests):
        query = Query(id=str(index), question=item.question, contexts=(item.context,))
        jobs.append((query, server.state.settings_for(item, f"requests[{index}]")))
    outcomes = await asyncio.gather(*server.batcher.submit(jobs), return_exceptions=True)
    results = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, BaseException):
            raise api_error(outcome, f"requests[{index}]") from None
        results.append(BatchItem(answers=_answers(outcome.answers)))
    return BatchResponse(results=results, model=server.reader.name, took_ms=_elapsed_ms(began))


@router.post(
    "/v1/explain",
    response_model=ExplainResponse,
    responses=ERROR_RESPONSES,
    summary="Answer one question and return P(start) and P(end) for every context token (a heat map).",
)
async def explain(body: AnswerRequest, server: ReadyServer) -> ExplainResponse:
    began = time.perf_counter()
    settings = server.state.settings_for(body)
    try:
        result = await server.batcher.call(_explain, server.reader, body.question, body.context, settings)
    except Exception as error:
        raise api_error(error) from None
    return result.model_copy(update={"model": server.reader.name, "took_ms": _elapsed_ms(began)})


def _explain(reader: Reader, question: str, context: str, settings: ReaderSettings) -> ExplainResponse:
    """Runs on the inference thread: reader.explain, then its heat map (P(start), P(end) per context token)."""
    explanation = reader.explain(
        question,
        context,
        top_k=settings.top_k,
        max_answer_len=settings.max_answer_len,
        handle_impossible_answer=settings.handle_impossible_answer,
        max_context_chars=settings.max_context_chars,
    )
    heat = heat_map(explanation)
    return ExplainResponse(
        answers=_answers(explanation.answers),
        no_answer_probability=explanation.no_answer_probability,
        tokens=[TokenHeat(**dataclasses.asdict(token)) for token in heat.tokens],
        windows=[
            WindowHeat(
                index=window.index,
                char_start=window.char_start,
                char_end=window.char_end,
                tokens=[TokenHeat(**dataclasses.asdict(token)) for token in window.tokens],
            )
            for window in heat.windows
        ],
        model="",
        took_ms=0.0,
    )


def _answers(answers: list[Answer] | tuple[Answer, ...]) -> list[AnswerOut]:
    return [AnswerOut(answer=a.text, score=a.score, start=a.start, end=a.end) for a in answers]


def _elapsed_ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000.0, 2)
