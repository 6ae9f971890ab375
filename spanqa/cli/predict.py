"""`spanqa predict`: SQuAD-format prediction files for a whole data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app
from spanqa.cli.common import (
    BackendOption,
    MaxContextCharsOption,
    ModelOption,
    PrecisionOption,
    ThreadsOption,
    load_reader,
)


@app.command(epilog="Example: spanqa predict dev-v1.1.json --out predictions.json --nbest nbest.json")
def predict(
    data: Annotated[Path, typer.Argument(help="SQuAD v1.1/v2.0 JSON file with the questions.")],
    out: Annotated[Path, typer.Option(help="Write {id: answer text} here (the official evaluators read it).")],
    nbest: Annotated[Path | None, typer.Option(help="Also write the top answers of each question here.")] = None,
    null_odds: Annotated[
        Path | None, typer.Option(help="Also write {id: P(no answer)} here (for SQuAD 2.0 --na-probs).")
    ] = None,
    model: ModelOption = None,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass.")] = 32,
    top_k: Annotated[int, typer.Option(help="Answers per question in --nbest.")] = 5,
    handle_impossible_answer: Annotated[
        bool | None,
        typer.Option(
            "--handle-impossible-answer/--no-handle-impossible-answer",
            help="Allow 'no answer' (written as \"\"); default: the model folder's setting.",
        ),
    ] = None,
    max_context_chars: MaxContextCharsOption = None,
    backend: BackendOption = "auto",
    precision: PrecisionOption = "auto",
    threads: ThreadsOption = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Answer every question of DATA and write a predictions file (plus n-best and no-answer odds)."""
    from spanqa.data import load_squad, write_predictions
    from spanqa.errors import InputError

    if top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {top_k}")
    examples = load_squad(data)
    reader = load_reader(model, backend, precision, threads, max_context_chars=max_context_chars)
    predictions = reader.predict(
        examples,
        batch_size=batch_size,
        progress=not no_progress,
        top_k=top_k,
        handle_impossible_answer=handle_impossible_answer,
    )
    write_predictions(out, {p.example_id: p.best_text for p in predictions})
    if nbest is not None:
        write_predictions(nbest, {p.example_id: [a.to_dict() for a in p.answers] for p in predictions})
    if null_odds is not None:
        write_predictions(null_odds, {p.example_id: p.no_answer_probability for p in predictions})
    typer.echo(f"{len(predictions):,} predictions written to {out}")
