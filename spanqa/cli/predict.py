"""`spanqa predict`: answer every question of a data file or table, here or on a Ray cluster.

--format squad (the default when --out ends in .json) writes the SQuAD predictions file as it
always has; parquet and jsonl write one part per input chunk into the --out folder, resumable.
"""

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

EXAMPLE = (
    "Example: spanqa predict dev-v1.1.json --out predictions.json --nbest nbest.json\n\n"
    "spanqa predict questions/ --out answers/ --engine ray --address auto --workers 8   (Parquet parts)"
)


@app.command(epilog=EXAMPLE)
def predict(
    data: Annotated[
        Path,
        typer.Argument(
            help="The questions: a SQuAD JSON file, or JSONL / Parquet with id, question, context "
            "(a file or a folder of parts)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="--format squad: write {id: answer text} here (what the official evaluators read). "
            "parquet/jsonl: a folder of parts, one per input chunk; run again to resume."
        ),
    ],
    nbest: Annotated[Path | None, typer.Option(help="Also write the top answers of each question here.")] = None,
    null_odds: Annotated[
        Path | None, typer.Option(help="Also write {id: P(no answer)} here (for SQuAD 2.0 --na-probs).")
    ] = None,
    model: ModelOption = None,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass.")] = 32,
    top_k: Annotated[int, typer.Option(help="Answers per question in --nbest (and the parts' answers list).")] = 5,
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
    output_format: Annotated[
        str,
        typer.Option("--format", help="squad, parquet or jsonl; auto: squad when --out ends in .json, else parquet."),
    ] = "auto",
    engine: Annotated[
        str, typer.Option(help='local (this process) or ray (a Ray cluster; pip install "spanqa[ray]").')
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="--engine ray: the cluster (auto, HOST:PORT or ray://HOST:PORT); default: start one here."),
    ] = None,
    workers: Annotated[int, typer.Option(help="--engine ray: actors, each with its own copy of the model.")] = 1,
    cpus_per_worker: Annotated[float, typer.Option(help="--engine ray: CPUs (and model threads) per actor.")] = 1.0,
    rows_per_part: Annotated[int, typer.Option(help="Questions per output part (the unit a rerun skips).")] = 10_000,
    rows_per_batch: Annotated[int, typer.Option(help="Questions per call of the table function (a Ray batch).")] = 64,
) -> None:
    """Answer every question of DATA: a SQuAD predictions file, or Parquet/JSONL parts with scores and top-k."""
    from spanqa.errors import InputError

    if top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {top_k}")
    if engine not in ("local", "ray"):
        raise InputError(f"--engine must be local or ray, got {engine!r}")
    fmt = resolve_format(output_format, out)
    if fmt != "squad" and (nbest is not None or null_odds is not None):
        raise InputError(
            "--nbest and --null-odds go with --format squad; parts hold the answers list and "
            "no_answer_probability already"
        )
    settings = {"handle_impossible_answer": handle_impossible_answer, "max_context_chars": max_context_chars}
    if fmt == "squad" and engine == "local":
        predict_squad(
            data,
            out,
            nbest,
            null_odds,
            model,
            backend,
            precision,
            threads,
            batch_size,
            top_k,
            settings,
            not no_progress,
        )
        return
    from spanqa.inference.table_job import TableJob
    from spanqa.model.folder import DEFAULT_MODEL_NAME, shipped_if_default

    parts_out = out.with_name(out.name + ".parts") if fmt == "squad" else out
    job = TableJob(
        input=data,
        out=parts_out,
        fmt="parquet" if fmt == "squad" else fmt,
        rows_per_part=rows_per_part,
        rows_per_batch=rows_per_batch,
        batch_size=batch_size,
        top_k=top_k,
        settings={k: v for k, v in settings.items() if v is not None},
        model=DEFAULT_MODEL_NAME if shipped_if_default(model) is None else str(Path(model).resolve()),
    )
    answered, total = run_parts_job(
        job, engine, model, backend, precision, threads, address, workers, cpus_per_worker, not no_progress
    )
    if fmt == "squad":
        write_squad_from_parts(parts_out, out, nbest, null_odds)
        typer.echo(f"{total:,} predictions written to {out} (parts in {parts_out})")
    else:
        typer.echo(f"{total:,} answers in {out} ({answered:,} answered now, {total - answered:,} already there)")


def resolve_format(output_format: str, out: Path) -> str:
    from spanqa.errors import InputError

    if output_format not in ("auto", "squad", "parquet", "jsonl"):
        raise InputError(f"--format must be auto, squad, parquet or jsonl, got {output_format!r}")
    if output_format == "auto":
        return "squad" if out.suffix.lower() == ".json" else "parquet"
    return output_format


def predict_squad(
    data, out, nbest, null_odds, model, backend, precision, threads, batch_size, top_k, settings, progress
) -> None:
    """The SQuAD predictions file (and n-best, no-answer odds) from any input, in this process."""
    from spanqa.data import write_predictions
    from spanqa.data.tables import SUFFIX_KINDS, plan_chunks, read_chunk
    from spanqa.types import Example

    if data.is_dir() or SUFFIX_KINDS.get(data.suffix.lower(), "squad") != "squad":
        examples = []
        for chunk in plan_chunks(data):
            columns = read_chunk(chunk)
            rows = zip(columns["id"], columns["question"], columns["context"], strict=True)
            examples += [Example(qid, question, context) for qid, question, context in rows]
    else:  # any other file is read as SQuAD JSON, as before there were tables
        from spanqa.data import load_squad

        examples = load_squad(data)
    reader = load_reader(model, backend, precision, threads, max_context_chars=settings["max_context_chars"])
    predictions = reader.predict(
        examples,
        batch_size=batch_size,
        progress=progress,
        top_k=top_k,
        handle_impossible_answer=settings["handle_impossible_answer"],
    )
    write_predictions(out, {p.example_id: p.best_text for p in predictions})
    if nbest is not None:
        write_predictions(nbest, {p.example_id: [a.to_dict() for a in p.answers] for p in predictions})
    if null_odds is not None:
        write_predictions(null_odds, {p.example_id: p.no_answer_probability for p in predictions})
    typer.echo(f"{len(predictions):,} predictions written to {out}")


def run_parts_job(job, engine, model, backend, precision, threads, address, workers, cpus_per_worker, progress):
    """(questions answered now, questions in all parts)."""
    from spanqa.inference.table_job import plan_job, run_local

    if engine == "ray":
        from spanqa.distributed.ray_import import import_ray

        import_ray()  # before any work: without Ray the one line says what to install
    chunks, pending = plan_job(job)
    total = sum(chunk.rows for chunk in chunks)
    if not pending:
        return 0, total
    if engine == "local":
        reader = load_reader(model, backend, precision, threads)
        return run_local(job, pending, reader, progress), total
    from spanqa.distributed.job import run_ray
    from spanqa.model.folder import check_local_folder, looks_like_hub_id, resolve_backend, shipped_if_default

    folder = shipped_if_default(model)
    if folder is not None and not looks_like_hub_id(folder):
        folder = str(check_local_folder(folder).resolve())  # the workers' working folder is not ours
    backend, precision = resolve_backend(folder, backend, precision)  # checks the folder here, before the cluster
    answered = run_ray(
        job,
        pending,
        model=folder,
        backend=backend,
        precision=precision,
        address=address,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        progress=progress,
    )
    return answered, total


def write_squad_from_parts(parts: Path, out: Path, nbest: Path | None, null_odds: Path | None) -> None:
    from spanqa.data import write_predictions
    from spanqa.data.parts import read_parts
    from spanqa.errors import InputError

    rows = read_parts(parts)
    failed = [row for row in rows if row["error"]]
    if failed:
        raise InputError(
            f"{len(failed)} question(s) could not be answered, e.g. id {failed[0]['id']!r}: "
            f"{failed[0]['error']} (the parts in {parts} hold every error)"
        )
    write_predictions(out, {row["id"]: row["answer"] for row in rows})
    if nbest is not None:
        write_predictions(nbest, {row["id"]: row["answers"] for row in rows})
    if null_odds is not None:
        write_predictions(null_odds, {row["id"]: row["no_answer_probability"] for row in rows})
