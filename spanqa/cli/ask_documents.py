"""`spanqa ask --index / --docs`: answer from an index (or from files, indexed on the fly) with citations.

Plain output shows each answer's `file:page`, its score and the sentence around it with the
answer highlighted; `--json` prints the answers with every citation field.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import typer

from spanqa.documents import DocumentAnswers, Index
from spanqa.documents.passages import SENTENCE_END
from spanqa.errors import InputError

SENTENCE_LIMIT = 300


def _sentence_bounds(passage: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around an answer: from the last sentence end before it to the next one after it."""
    begin = 0
    for match in SENTENCE_END.finditer(passage, 0, start):
        begin = match.end()
    after = SENTENCE_END.search(passage, end)
    finish = after.start() + 1 if after else len(passage)
    return max(begin, start - SENTENCE_LIMIT), min(finish, end + SENTENCE_LIMIT)


def print_document_answers(result: DocumentAnswers) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not result.passages:
        console.print("no passage in the index shares a word with the question: no answer")
        return
    for rank, answer in enumerate(result.answers, start=1):
        if answer.is_no_answer:
            console.print(f"{rank}. (no answer in these documents)  score {answer.score:.3f}")
            continue
        console.print(Text.assemble(f"{rank}. ", (answer.text, "bold"), f"  score {answer.score:.3f}"))
        # soft_wrap: a long path stays on one line, so it can be copied and opened as it is.
        console.print(f"   {answer.location}  [{answer.start}:{answer.end}]", soft_wrap=True)
        start, end = answer.start - answer.passage_start, answer.end - answer.passage_start
        begin, finish = _sentence_bounds(answer.passage, start, end)
        line = Text("   ")
        line.append(answer.passage[begin:start].replace("\n", " "))
        line.append(answer.passage[start:end].replace("\n", " "), style="bold black on yellow")
        line.append(answer.passage[end:finish].replace("\n", " "))
        console.print(line)
    read = len(result.passages)
    console.print(f"P(no answer in the {read} passage{'s' * (read != 1)} read) = {result.no_answer_probability:.3f}")


def answer_from_documents(
    reader_factory, question: str, index_folder: Path | None, docs: Path | None, top_k: int, passages: int,
    as_json: bool, **overrides,
) -> None:
    """Open the index (or index `docs` into a temporary folder), ask, print."""
    if index_folder is not None and docs is not None:
        raise InputError("give --index or --docs, not both")
    if passages < 1:
        raise InputError(f"--passages must be at least 1, got {passages}")
    if index_folder is not None:
        with Index.open(index_folder) as index:
            result = index.ask(question, reader_factory(), top_k=top_k, passages=passages, **overrides)
    else:
        with tempfile.TemporaryDirectory(prefix="spanqa-docs-") as folder:
            show_progress = not as_json and sys.stderr.isatty()
            with Index.build([docs], Path(folder) / "index", progress=show_progress) as index:
                for path, reason in index.report.skipped:
                    typer.echo(f"note: skipped {path}: {reason}", err=True)
                result = index.ask(question, reader_factory(), top_k=top_k, passages=passages, **overrides)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print_document_answers(result)
