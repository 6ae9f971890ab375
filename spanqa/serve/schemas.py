"""Request and response bodies of the HTTP API: the OpenAPI schema is the contract.

Fields are strict (no "3" for 3, no 1 for true; 3.0 is 3, as in JSON Schema) and unknown fields
are refused, so a typo in a field name is a 422 that names it instead of a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

TOP_K_MAX = 20
MAX_ANSWER_LEN_MAX = 512
QUESTION_MAX_CHARS = 5_000
BATCH_MAX_REQUESTS = 64


def _integral_float_to_int(value: Any) -> Any:
    # JSON has one number type, and JSON Schema's "integer" includes 3.0 (JavaScript sends 3 for 3.0
    # anyway): accept it as 3. 2.5, "3" and true are still refused by the strict int check.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def json_int(low: int, high: int) -> Any:
    """An int in [low, high] that JSON may spell 3 or 3.0 (the bounds inside, so the schema shows them)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_integral_float_to_int)]

# A text must hold a character that is not one of these: every character that Python's str.isspace,
# JavaScript's \s or Rust's \s calls a space (their three sets differ), spelled out, so that the
# schema's pattern means the same to every validator and generator, and to `_not_blank` below.
BLANK_CHARACTERS = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NOT_BLANK_PATTERN = f"[^{BLANK_CHARACTERS}]"
NOT_BLANK = {"minLength": 1, "pattern": NOT_BLANK_PATTERN}


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class AnswerRequest(_Strict):
    """One question about one context. Unset options take the model folder's reader settings."""

    question: str = Field(
        max_length=QUESTION_MAX_CHARS,
        description="The question, in plain text (not only whitespace).",
        json_schema_extra=NOT_BLANK,
    )
    context: str = Field(
        description="The text that holds the answer (not only whitespace). Its length is limited by the server's "
        "max_context_chars (see GET /v1/model); a longer context is refused with 413.",
        json_schema_extra=NOT_BLANK,
    )
    top_k: json_int(1, TOP_K_MAX) | None = Field(default=None, description="How many answers to return, best first.")
    max_answer_len: json_int(1, MAX_ANSWER_LEN_MAX) | None = Field(
        default=None, description="Longest answer, in model tokens."
    )
    handle_impossible_answer: bool | None = Field(
        default=None, description="Allow the answer 'no answer' (returned as answer '' at 0..0)."
    )

    @field_validator("question", "context")
    @classmethod
    def _not_blank(cls, value: str, info: Any) -> str:
        if re.search(NOT_BLANK_PATTERN, value) is None:
            raise ValueError(f"{info.field_name} is empty or only whitespace: give some text")
        return value

    def overrides(self) -> dict[str, Any]:
        """The reader settings this request changes (None: keep the server's value)."""
        return {
            "top_k": self.top_k,
            "max_answer_len": self.max_answer_len,
            "handle_impossible_answer": self.handle_impossible_answer,
        }


class AnswerOut(BaseModel):
    answer: str = Field(description="The answer text, exactly context[start:end]; '' for no answer.")
    score: float = Field(description="Probability of this answer among every span the model could choose.")
    start: int = Field(description="Character offset of the answer in the context.")
    end: int = Field(description="Character offset just past the answer.")


class AnswerResponse(BaseModel):
    answers: list[AnswerOut]
    model: str = Field(description="Name of the model folder that answered.")
    took_ms: float = Field(description="Server time spent on this request, queueing included.")


class BatchRequest(_Strict):
    requests: list[AnswerRequest] = Field(
        min_length=1, max_length=BATCH_MAX_REQUESTS, description="The questions, answered in this order."
    )


class BatchItem(BaseModel):
    answers: list[AnswerOut]


class BatchResponse(BaseModel):
    results: list[BatchItem] = Field(description="One entry per request, in the order they were given.")
    model: str
    took_ms: float


class TokenHeat(BaseModel):
    start: int = Field(description="Character offset of the token in the context.")
    end: int
    text: str = Field(description="context[start:end].")
    start_prob: float = Field(description="P(answer starts here): softmax over the window's context tokens.")
    end_prob: float = Field(description="P(answer ends here): softmax over the window's context tokens.")


class WindowHeat(BaseModel):
    index: int
    char_start: int
    char_end: int
    tokens: list[TokenHeat]


class ExplainResponse(BaseModel):
    answers: list[AnswerOut]
    no_answer_probability: float
    tokens: list[TokenHeat] = Field(
        description="Every context token once, in context order; where windows overlap, the larger probability."
    )
    windows: list[WindowHeat]
    model: str
    took_ms: float


class ModelResponse(BaseModel):
    name: str
    head: str = Field(description="Span head: linear or pointer.")
    runtime: str
    precision: str | None
    settings: dict[str, Any] = Field(description="The reader settings requests start from.")
    scores: Any = Field(description='Evaluation scores from the model card (spanqa.json "scores"), or null.')
    limits: dict[str, int | float] = Field(description="Server limits: max_context_chars, max_body_bytes, ...")


class StatusResponse(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    type: str = Field(description="A stable machine-readable kind, e.g. validation_error, context_too_long.")
    message: str = Field(description="What is wrong and how to fix it.")
    field: str | None = Field(default=None, description="The request field at fault, e.g. requests[2].top_k.")
    request_id: str | None = Field(
        default=None, description="The request's id, also in the X-Request-ID header and the server's log line."
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail
