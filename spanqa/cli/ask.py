"""`spanqa ask`: answer one question from a text, a file or stdin."""

from __future__ import annotations

import functools
import json
import sys
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
    read_text_file,
    without_byte_order_mark,
)
from spanqa.errors import InputError
from spanqa.inference.inputs import check_text

SNIPPET_MARGIN = 80


def _context_from(context: str | None, context_file: Path | None) -> str:
    if context is not None and context_file is not None:
        raise InputError("give --context or --context-file, not both")
    if context is not None:
        return context
    if context_file is not None:
        return read_text_file(context_file, "context file")
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("no context: give --context TEXT, --context-file PATH, or pipe the text on stdin")
    try:
        return without_byte_order_mark(sys.stdin.read())
    except UnicodeDecodeError as error:
        raise InputError(
            f"the text on stdin is not UTF-8 ({error.reason} at byte {error.start}): convert it to UTF-8"
        ) from error


@app.command(epilog='Example: spanqa ask -q "Who founded Apple?" --context "Apple was founded by Steve Jobs in 1976."')
def ask(
    question: Annotated[str, typer.Option("--question", "-q", help="The question to answer.")],
    context: Annotated[str | None, typer.Option("--context", "-c", help="The text to search.")] = None,
    context_file: Annotated[
        Path | None, typer.Option(help="Read the text from this UTF-8 file (a leading byte order mark is dropped).")
    ] = None,
    index: Annotated[
        Path | None, typer.Option("--index", help="Answer from this index (made by `spanqa index`), citing files.")
    ] = None,
    docs: Annotated[
        Path | None, typer.Option("--docs", help="Answer from these files or folder (indexed for this question only).")
    ] = None,
    passages: Annotated[int, typer.Option(help="With --index/--docs: passages the reader reads.")] = 5,
    model: ModelOption = None,
    top_k: Annotated[int, typer.Option(help="How many answers to show.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {answer, score, start, end}.")] = False,
    explain: Annotated[bool, typer.Option(help="Show windows, tokens, logits and candidate spans.")] = False,
    handle_impossible_answer: Annotated[
        bool, typer.Option(help="Allow the answer 'no answer' (models trained with unanswerable questions).")
    ] = False,
    max_answer_len: Annotated[int | None, typer.Option(help="Longest answer, in tokens.")] = None,
    max_seq_len: Annotated[int | None, typer.Option(help="Tokens per window.")] = None,
    doc_stride: Annotated[int | None, typer.Option(help="Overlap between windows, in tokens.")] = None,
    max_question_len: Annotated[int | None, typer.Option(help="Questions are cut to this many tokens.")] = None,
    max_context_chars: MaxContextCharsOption = None,
    backend: BackendOption = "auto",
    precision: PrecisionOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Answer QUESTION from a context; prints the answer, its score and where it stands."""
    if top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {top_k}")
    # Loaded only after the cheap checks: a user with an empty question should not wait for the model.
    load = functools.partial(
        load_reader,
        model,
        backend,
        precision,
        threads,
        max_answer_len=max_answer_len,
        max_seq_len=max_seq_len,
        doc_stride=doc_stride,
        max_question_len=max_question_len,
        max_context_chars=max_context_chars,
    )
    overrides = {"handle_impossible_answer": handle_impossible_answer or None}
    if index is not None or docs is not None:
        if context is not None or context_file is not None:
            raise InputError("give --index/--docs or --context/--context-file, not both")
        if explain:
            raise InputError("--explain reads one context: use it with --context, not --index/--docs")
        from spanqa.cli.ask_documents import answer_from_documents

        check_text(question, "question")
        answer_from_documents(load, question, index, docs, top_k, passages, as_json, **overrides)
        return
    text = _context_from(context, context_file)
    # Cheap checks first: a user with an empty question should not wait for the model to load.
    check_text(question, "question")
    check_text(text, "context", max_context_chars)
    reader = load()
    if explain:
        from spanqa.cli.explain_view import print_explanation

        print_explanation(reader.explain(question, text, top_k=top_k, **overrides))
        return
    answers = reader.ask(question, text, top_k=top_k, **overrides)
    if as_json:
        typer.echo(json.dumps([a.to_dict() for a in answers], ensure_ascii=False))
        return
    _print_answers(answers, text)


def _print_answers(answers, context: str) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    if not answers:
        console.print("no answer found (the context has no span the model can point at)")
        return
    for rank, answer in enumerate(answers, start=1):
        if answer.is_no_answer:
            console.print(f"{rank}. (no answer)  score {answer.score:.3f}")
            continue
        console.print(
            Text.assemble(
                f"{rank}. ", (answer.text, "bold"), f"  score {answer.score:.3f}  [{answer.start}:{answer.end}]"
            )
        )
        begin = max(0, answer.start - SNIPPET_MARGIN)
        end = min(len(context), answer.end + SNIPPET_MARGIN)
        snippet = Text("   " + ("…" if begin > 0 else ""))
        snippet.append(context[begin : answer.start].replace("\n", " "))
        snippet.append(f"«{answer.text}»".replace("\n", " "), style="bold black on yellow")
        snippet.append(context[answer.end : end].replace("\n", " "))
        snippet.append("…" if end < len(context) else "")
        console.print(snippet)
