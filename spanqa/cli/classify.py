"""`spanqa classify`: label texts (or text pairs) with a sequence-classification model folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app
from spanqa.cli.common import BackendOption, PrecisionOption, ThreadsOption
from spanqa.errors import InputError

EPILOG = (
    'Example: spanqa classify --model ./answerability "Who won?" --text-pair "Denver won." ; '
    "spanqa classify --model ./answerability --file pairs.csv --text-column question --text-pair-column context --json"
)


@app.command(epilog=EPILOG)
def classify(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify (or use --file).")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read texts from a .txt (one per line), .jsonl or .csv file.")
    ] = None,
    text_column: Annotated[str, typer.Option(help="With --file (.jsonl/.csv): the column holding the text.")] = "text",
    text_pair_column: Annotated[
        str | None, typer.Option(help="With --file: the column holding each text's second text (pairs).")
    ] = None,
    text_pair: Annotated[
        str | None, typer.Option(help="With TEXT arguments: the second text of every pair (e.g. the paragraph).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Sequence-classification model folder (required).")
    ] = None,
    top_k: Annotated[int | None, typer.Option(help="Labels per text (default: all, best first).")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Multi-label models: keep labels scored at least this (default 0.5).")
    ] = None,
    long_text: Annotated[
        str | None, typer.Option(help="Texts over the model's window: truncate (default) or average (over windows).")
    ] = None,
    max_seq_len: Annotated[int | None, typer.Option(help="Tokens per window (default: the model's).")] = None,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines: one object per text.")] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show tokens, the padded batch and mask, logits, softmax and id2label.")
    ] = False,
    backend: BackendOption = "auto",
    precision: PrecisionOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Classify texts: labels with probabilities, best first, from the model folder's id2label."""
    from spanqa.classify import Classifier
    from spanqa.classify.data import read_texts

    if model is None:
        raise InputError("give the classifier with --model PATH (no classifier ships with spanqa)")
    if texts and file is not None:
        raise InputError("give TEXT arguments or --file, not both")
    if file is not None:
        if text_pair is not None:
            raise InputError("--text-pair goes with TEXT arguments; with --file use --text-pair-column")
        items = read_texts(file, text_column, text_pair_column)
    elif texts:
        items = [(text, text_pair) for text in texts] if text_pair is not None else list(texts)
    else:
        raise InputError("no texts: give TEXT arguments or --file PATH")
    classifier = Classifier.load(
        model, backend=backend, precision=precision, threads=threads, long_text=long_text, max_seq_len=max_seq_len
    )
    options = {"threshold": threshold, "batch_size": batch_size}
    if explain:
        from spanqa.classify.explain import explain as explain_run
        from spanqa.classify.explain import explanation_text

        explanation = explain_run(classifier, items, top_k=top_k, **options)
        typer.echo(json.dumps(explanation, ensure_ascii=False) if as_json else explanation_text(explanation))
        return
    results = classifier.classify(items, top_k=top_k, **options)
    for item, labels in zip(items, results, strict=True):
        if as_json:
            text = {"text": item[0], "text_pair": item[1]} if isinstance(item, tuple) else {"text": item}
            typer.echo(json.dumps({**text, "labels": [label.to_dict() for label in labels]}, ensure_ascii=False))
        else:
            shown = "  ".join(f"{label.label} {label.score:.4f}" for label in labels) or "(no label over the threshold)"
            typer.echo(f"{shown}\t{item if isinstance(item, str) else ' | '.join(item)}")


def evaluate_classifier(
    data: Path,
    model: Path | None,
    text_column: str,
    text_pair_column: str | None,
    label_column: str,
    out: Path | None,
    html: Path | None,
    batch_size: int,
    backend: str,
    precision: str,
    threads: int | None,
) -> None:
    """`spanqa evaluate --task classify`: run the classifier on labelled data and report its metrics."""
    from spanqa.classify import Classifier
    from spanqa.classify.data import read_labelled, split_labels
    from spanqa.evaluation.classification import check_known_labels, classification_metrics
    from spanqa.fileio import write_json_atomic

    if model is None:
        raise InputError("--task classify needs --model PATH (the classifier to score)")
    classifier = Classifier.load(model, backend=backend, precision=precision, threads=threads)
    rows = read_labelled(data, text_column, label_column, text_pair_column)
    gold = [split_labels(row.label, classifier.multi_label) for row in rows]
    check_known_labels(gold, classifier.labels, str(data))
    results = classifier.classify([row.item for row in rows], batch_size=batch_size)
    predicted = [[x.label for x in labels] if classifier.multi_label else [labels[0].label] for labels in results]
    metrics = classification_metrics(gold, predicted, classifier.labels)
    report = {"task": "classify", "sources": {"data": str(data), "model": str(model)}, "metrics": metrics}
    typer.echo(
        f"{metrics['total']} rows: accuracy {metrics['accuracy']:.2f}  macro F1 {metrics['macro_f1']:.2f}  "
        f"micro F1 {metrics['micro_f1']:.2f}"
    )
    for label, row in metrics["per_class"].items():
        typer.echo(
            f"  {label}: precision {row['precision']:.2f} recall {row['recall']:.2f} F1 {row['f1']:.2f} "
            f"(support {row['support']})"
        )
    if metrics["confusion_matrix"] is not None:
        typer.echo("confusion matrix (rows: gold, columns: predicted, order " + ", ".join(metrics["labels"]) + "):")
        for row in metrics["confusion_matrix"]:
            typer.echo("  " + " ".join(f"{count:6d}" for count in row))
    if out is not None:
        write_json_atomic(out, report)
        typer.echo(f"JSON report written to {out}")
    if html is not None:
        from spanqa.evaluation.report_html import write_classification_html

        write_classification_html(html, report, title=f"spanqa evaluation of {model} on {data.name}")
        typer.echo(f"HTML report written to {html}")
