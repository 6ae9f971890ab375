"""`spanqa evaluate`: official SQuAD scores of a predictions file, or of a model run on the data."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from spanqa.cli import app
from spanqa.cli.common import BackendOption, PrecisionOption, ThreadsOption
from spanqa.data.predictions import load_na_probs_file, load_predictions_file, preview_ids, unmatched_message
from spanqa.data.squad import examples_from_squad, load_squad_json, write_predictions
from spanqa.errors import IgnoredInputWarning, InputError
from spanqa.evaluation.metrics import (
    SquadEvaluation,
    detect_version,
    evaluate_squad,
)

EXAMPLES = """Examples:

\b
  spanqa evaluate dev-v1.1.json predictions.json
  spanqa evaluate dev-v2.0.json predictions.json --na-probs null_odds.json --out report.json --html report.html
  spanqa evaluate dev-v2.0.json --model models/minilm-squad2 --predictions-out predictions.json --html report.html
"""


def _check_arguments(
    predictions: Path | None,
    model: Path | None,
    predictions_out: Path | None,
    na_probs: Path | None,
    na_prob_thresh: float | None,
) -> None:
    if predictions is not None and model is not None:
        raise InputError("give either a PREDICTIONS file or --model, not both")
    if predictions is None and model is None:
        raise InputError("nothing to score: give a PREDICTIONS file, or --model PATH to predict with a reader first")
    if predictions_out is not None and model is None:
        raise InputError("--predictions-out needs --model (it saves the predictions the model makes)")
    if na_probs is not None and model is not None:
        raise InputError("--na-probs cannot be used with --model: the reader's no-answer probabilities are used")
    if na_prob_thresh is not None and na_probs is None and model is None:
        raise InputError("--na-prob-thresh needs --na-probs (or --model) to have no-answer probabilities to threshold")
    if na_prob_thresh is not None and not 0.0 <= na_prob_thresh <= 1.0:
        raise InputError(f"--na-prob-thresh should lie between 0 and 1, got {na_prob_thresh}")


def _predict_with_model(
    dataset: Mapping[str, Any], model: Path, batch_size: int, backend: str, precision: str, threads: int | None
) -> tuple[dict[str, str], dict[str, float], dict[str, float]]:
    """(predictions, no-answer probabilities, best-answer scores) of the reader at `model`.

    On SQuAD 2.0 data the reader may answer "no answer" (at its shipped null_threshold).
    """
    from spanqa.cli.common import load_reader  # torch and transformers load only on this path

    examples = examples_from_squad(dataset)
    reader = load_reader(str(model), backend, precision, threads)
    results = reader.predict(
        examples,
        batch_size=batch_size,
        progress=True,
        handle_impossible_answer=detect_version(dataset) == "2.0",
    )
    predictions: dict[str, str] = {}
    na_probs: dict[str, float] = {}
    answer_scores: dict[str, float] = {}
    for result in results:
        predictions[result.example_id] = result.best_text
        na_probs[result.example_id] = float(result.no_answer_probability)
        if result.answers:
            answer_scores[result.example_id] = float(result.answers[0].score)
    return predictions, na_probs, answer_scores


def _print_summary(evaluation: SquadEvaluation, written: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    metrics = evaluation.metrics
    table = Table(title=f"SQuAD v{evaluation.version} scores", title_justify="left")
    table.add_column("questions")
    table.add_column("count", justify="right")
    table.add_column("EM", justify="right")
    table.add_column("F1", justify="right")
    for label, prefix in (("all", ""), ("has answer", "HasAns_"), ("no answer", "NoAns_")):
        if f"{prefix}total" in metrics:
            table.add_row(
                label,
                str(metrics[f"{prefix}total"]),
                f"{metrics[f'{prefix}exact']:.2f}",
                f"{metrics[f'{prefix}f1']:.2f}",
            )
    console = Console()
    console.print(table)
    if "best_f1" in metrics:
        console.print(
            f"best no-answer threshold: EM {metrics['best_exact']:.2f} at {metrics['best_exact_thresh']:.4g}, "
            f"F1 {metrics['best_f1']:.2f} at {metrics['best_f1_thresh']:.4g}",
            highlight=False,
        )
    missing = metrics["missing"]
    note = f" (scored 0): {preview_ids(evaluation.missing_ids)}" if missing else ""
    console.print(f"missing predictions: {missing} of {metrics['total']}{note}", highlight=False)
    for line in written:
        console.print(line, highlight=False)


def _warn_ignored(evaluation: SquadEvaluation, predictions: Path | None, na_probs: Path | None) -> None:
    """One stderr line per file with ids that match no question (the official scripts ignore them silently)."""
    for ids, source in (
        (evaluation.ignored_prediction_ids, f"predictions file {predictions}"),
        (evaluation.ignored_na_prob_ids, f"no-answer probabilities file {na_probs}"),
    ):
        if ids:
            typer.echo(
                f"warning: {unmatched_message(source, ids)}; ignored, as the official SQuAD scripts ignore them "
                "(--strict makes this an error)",
                err=True,
            )


@app.command("evaluate", epilog=EXAMPLES)
def evaluate(
    data: Annotated[Path, typer.Argument(help="SQuAD v1.1 or v2.0 JSON file with the gold answers.")],
    predictions: Annotated[
        Path | None, typer.Argument(help='Predictions file {"question id": "answer text"} ("" = no answer).')
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="Model folder: predict with this reader, then score.")
    ] = None,
    predictions_out: Annotated[
        Path | None, typer.Option("--predictions-out", help="With --model: also write its predictions here.")
    ] = None,
    na_probs: Annotated[
        Path | None,
        typer.Option("--na-probs", help="SQuAD v2.0: no-answer probabilities {id: p} (the official na_prob.json)."),
    ] = None,
    na_prob_thresh: Annotated[
        float | None,
        typer.Option(
            "--na-prob-thresh",
            help='Count a prediction as "no answer" when its no-answer probability exceeds this (default 1.0: never).',
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report (plots included) here.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="With --model: questions per batch.")] = 32,
    worst: Annotated[int, typer.Option("--worst", min=0, help="Rows in the report's worst-misses table.")] = 20,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Refuse prediction or --na-probs ids that match no question (by default they are ignored with "
            "a warning, as the official SQuAD scripts ignore them).",
        ),
    ] = False,
    backend: BackendOption = "auto",
    precision: PrecisionOption = "auto",
    threads: ThreadsOption = None,
    task: Annotated[
        str, typer.Option(help="reader (SQuAD data) or classify (a labelled .csv/.jsonl file and a classifier).")
    ] = "reader",
    text_column: Annotated[str, typer.Option(help="--task classify: the column holding the text.")] = "text",
    text_pair_column: Annotated[
        str | None, typer.Option(help="--task classify: the column holding the second text of a pair.")
    ] = None,
    label_column: Annotated[str, typer.Option(help="--task classify: the column holding the gold label.")] = "label",
) -> None:
    """Score predictions with the official SQuAD v1.1 / v2.0 metrics and write a report.

    With --task classify: accuracy, macro/micro F1, per-class precision/recall and the confusion
    matrix of a classifier (--model) on labelled data (spanqa evaluate --task classify data.csv --model M).

    The version is taken from the data file: v2.0 when it says so or any question has
    'is_impossible' or no gold answer, v1.1 otherwise. Questions without a prediction score 0 and
    are listed; prediction ids that match no question are ignored with a warning (--strict: an error).
    """
    from spanqa.evaluation.report import build_report, write_report_json

    if task not in ("reader", "classify"):
        raise InputError(f"--task must be reader or classify, got {task!r}")
    if task == "classify":
        from spanqa.cli.classify import evaluate_classifier

        if predictions is not None:
            raise InputError("--task classify scores a model: give --model PATH, not a PREDICTIONS file")
        args = (data, model, text_column, text_pair_column, label_column, out, html, batch_size)
        evaluate_classifier(*args, backend, precision, threads)
        return
    _check_arguments(predictions, model, predictions_out, na_probs, na_prob_thresh)
    dataset = load_squad_json(data)
    answer_scores: dict[str, float] | None = None
    sources = {"data": str(data)}
    if model is not None:
        preds, probs, answer_scores = _predict_with_model(dataset, model, batch_size, backend, precision, threads)
        if predictions_out is not None:
            write_predictions(predictions_out, preds)
        # v1.1 has no unanswerable questions, and the official v1.1 script no probabilities
        probs_used: dict[str, float] | None = probs if detect_version(dataset) == "2.0" else None
        sources["model"] = str(model)
    else:
        assert predictions is not None
        preds = load_predictions_file(predictions, dataset, strict)
        probs_used = None if na_probs is None else load_na_probs_file(na_probs, dataset, preds, strict)
        sources["predictions"] = str(predictions)
        if na_probs is not None:
            sources["na_probs"] = str(na_probs)

    with warnings.catch_warnings():
        # said below, naming the files, instead of as a Python warning
        warnings.simplefilter("ignore", IgnoredInputWarning)
        evaluation = evaluate_squad(
            dataset, preds, probs_used, 1.0 if na_prob_thresh is None else na_prob_thresh, strict=strict
        )
    _warn_ignored(evaluation, predictions, na_probs)
    report = build_report(evaluation, answer_scores, sources, worst)
    written = []
    if predictions_out is not None:
        written.append(f"predictions written to {predictions_out}")
    if out is not None:
        write_report_json(out, report)
        written.append(f"JSON report written to {out}")
    if html is not None:
        from spanqa.evaluation.report_html import write_report_html

        write_report_html(html, evaluation, report, title=f"spanqa evaluation of {data.name}")
        written.append(f"HTML report written to {html}")
    _print_summary(evaluation, written)
