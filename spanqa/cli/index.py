"""`spanqa index`: build or update an index of files and folders for `spanqa ask --index`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spanqa.cli import app

# The summary lists this many skipped files; the JSON report (--json) lists them all.
SKIPPED_SHOWN = 20


@app.command(
    epilog="Example: spanqa index ~/papers notes.md --index papers.index, then: spanqa ask -q ... --index papers.index"
)
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (read recursively) to index.")],
    index_folder: Annotated[Path, typer.Option("--index", help="The index folder (made if missing, else updated).")],
    rebuild: Annotated[bool, typer.Option(help="Start from an empty index instead of updating.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's report as JSON.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")] = False,
) -> None:
    """Index .txt, .md, .html, .pdf, .docx and .jsonl files; re-running reads only what changed."""
    from spanqa.documents import Index

    built = Index.build(paths, index_folder, progress=not no_progress and not as_json, rebuild=rebuild)
    report = built.report
    built.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    totals = report.totals
    typer.echo(
        f"{report.files_seen:,} files: {len(report.indexed):,} indexed, {report.unchanged:,} unchanged, "
        f"{len(report.skipped):,} skipped, {len(report.removed):,} removed"
    )
    typer.echo(
        f"index {index_folder}: {totals['files']:,} files, {totals['documents']:,} documents, "
        f"{totals['pages']:,} pages, {totals['passages']:,} passages"
    )
    for path, reason in report.skipped[:SKIPPED_SHOWN]:
        typer.echo(f"  skipped {path}: {reason}")
    if len(report.skipped) > SKIPPED_SHOWN:
        typer.echo(f"  ... and {len(report.skipped) - SKIPPED_SHOWN:,} more (--json lists them all)")
