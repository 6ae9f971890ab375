"""Table in, table out: answer every row (id, question, context) of a table. The one function both engines run.

`predict_table` takes a pyarrow Table or a mapping of columns and returns the same kind, with
the columns of spanqa.data.parts.OUTPUT_COLUMNS and every input column other than question and
context passed through (a caller's keys, a job's bookkeeping). A row whose question or context is
unusable (empty, not text, too long) gets its message in `error` and empty answer fields; the
other rows of the table are answered as if it were not there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spanqa.data.parts import OUTPUT_COLUMNS, to_arrow
from spanqa.data.tables import check_columns
from spanqa.errors import InputError
from spanqa.inference.inputs import check_text
from spanqa.types import Prediction, Query

CONSUMED_COLUMNS = ("question", "context")


def predict_table(
    table: Any,
    reader,
    *,
    top_k: int | None = None,
    batch_size: int = 32,
    progress: bool = False,
    **settings: Any,
) -> Any:
    """Answer each row of `table` with `reader`; the answers as a table of the same kind (pyarrow or columns).

    `top_k` answers go in the `answers` list of each row, the best one in answer/start/end/score;
    keyword `settings` override the reader's (see ReaderSettings), as in Reader.predict.
    """
    is_arrow = hasattr(table, "to_pydict") and hasattr(table, "schema")
    columns = table.to_pydict() if is_arrow else table
    if not isinstance(columns, Mapping):
        raise InputError(f"predict_table takes a pyarrow Table or a mapping of columns, got {type(table).__name__}")
    check_columns(list(columns), "the table")
    chosen = reader.settings.replace(top_k=top_k, **settings)
    answered = answer_columns(columns, reader, chosen, batch_size, progress)
    if not is_arrow:
        return answered
    arrow = to_arrow(answered)
    for name in answered.keys() - set(OUTPUT_COLUMNS):
        arrow = arrow.append_column(name, table.column(name))
    return arrow


def answer_columns(
    columns: Mapping[str, Sequence[Any]], reader, settings, batch_size: int, progress: bool
) -> dict[str, list[Any]]:
    ids, questions, contexts = (list(columns[name]) for name in ("id", "question", "context"))
    errors: list[str | None] = []
    queries = []
    for qid, question, context in zip(ids, questions, contexts, strict=True):
        try:
            query = Query(
                id=str(qid),
                question=check_text(question, "question"),
                contexts=(check_text(context, "context", settings.max_context_chars),),
            )
        except InputError as error:
            errors.append(str(error))
            continue
        errors.append(None)
        queries.append(query)
    predictions = iter(reader.predict_queries(queries, settings, batch_size, progress) if queries else [])
    rows = [
        empty_row(qid, error) if error else prediction_row(next(predictions))
        for qid, error in zip(ids, errors, strict=True)
    ]
    answered = {name: [row[name] for row in rows] for name in OUTPUT_COLUMNS}
    for name, values in columns.items():
        if name not in answered and name not in CONSUMED_COLUMNS:
            answered[name] = list(values)
    return answered


def prediction_row(prediction: Prediction) -> dict[str, Any]:
    best = prediction.answers[0] if prediction.answers else None
    return {
        "id": prediction.example_id,
        "answer": best.text if best else "",
        "start": best.start if best else 0,
        "end": best.end if best else 0,
        "score": best.score if best else 0.0,
        "no_answer_probability": prediction.no_answer_probability,
        "answers": [answer.to_dict() for answer in prediction.answers],
        "error": None,
    }


def empty_row(qid: Any, error: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(OUTPUT_COLUMNS)
    return {**row, "id": str(qid), "answers": [], "error": error}
