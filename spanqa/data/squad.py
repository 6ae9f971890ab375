"""Read and validate SQuAD v1.1 / v2.0 JSON files; subsets of them; Examples back to SQuAD; prediction files."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from spanqa.errors import DataFileError
from spanqa.fileio import write_json_atomic
from spanqa.types import Example, GoldAnswer


def read_json_file(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Parse a JSON file, turning every failure into a DataFileError that says what to do."""
    file_path = Path(path)
    if not file_path.exists():
        raise DataFileError(f"{what} {file_path} does not exist: check the path")
    if file_path.is_dir():
        raise DataFileError(f"{what} {file_path} is a folder: pass a JSON file")
    try:
        # utf-8-sig: a file saved with a byte order mark (Windows editors, PowerShell) is JSON all the same
        text = file_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataFileError(
            f"{what} {file_path} is not UTF-8 text ({error.reason} at byte {error.start}): save it as UTF-8"
        ) from error
    except OSError as error:
        raise DataFileError(f"{what} {file_path} cannot be read: {error.strerror}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFileError(
            f"{what} {file_path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error


_JSON_NAMES = {str: "string", int: "integer", list: "list", dict: "object", float: "number", bool: "boolean"}


def _json_name(kind: type) -> str:
    return _JSON_NAMES.get(kind, kind.__name__)


def _require(mapping: Any, key: str, kind: type | tuple[type, ...], where: str, source: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise DataFileError(f"{source} is not a SQuAD file: {where or 'the top level'} has no '{key}' field")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool):  # no SQuAD field is a boolean among these
        expected = " or ".join(_json_name(k) for k in (kind if isinstance(kind, tuple) else (kind,)))
        article = "an" if expected[0] in "aeiou" else "a"
        field = f"{where}.{key}" if where else key
        raise DataFileError(
            f"{source} is not a SQuAD file: {field} should be {article} {expected}, got {_json_name(type(value))}"
        )
    return value


def _check_encodable(text: str, where: str, source: str) -> None:
    # JSON's "\ud800" escapes decode to lone surrogates, which are no characters: no tokenizer takes them.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise DataFileError(
            f"{source}: {where} holds a lone surrogate (U+{ord(text[error.start]):04X}) at character {error.start}, "
            "which is not a character: fix the file (write the character itself, or a valid surrogate pair)"
        ) from error


def validate_squad(dataset: Any, source: str = "data file") -> dict[str, Any]:
    """Check the SQuAD structure and return the dataset; errors name the first bad field."""
    if not isinstance(dataset, Mapping):
        raise DataFileError(f"{source} is not a SQuAD file: the top level should be an object with a 'data' list")
    articles = _require(dataset, "data", list, "", source)
    seen_ids: set[str] = set()
    for a, article in enumerate(articles):
        paragraphs = _require(article, "paragraphs", list, f"data[{a}]", source)
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            context = _require(paragraph, "context", str, where, source)
            _check_encodable(context, f"{where}.context", source)
            for q, qa in enumerate(_require(paragraph, "qas", list, where, source)):
                qa_where = f"{where}.qas[{q}]"
                qid = _require(qa, "id", (str, int), qa_where, source)
                _check_encodable(_require(qa, "question", str, qa_where, source), f"{qa_where}.question", source)
                if str(qid) in seen_ids:
                    raise DataFileError(f"{source}: question id {qid!r} appears twice ({qa_where})")
                seen_ids.add(str(qid))
                answers = qa.get("answers", []) if isinstance(qa, Mapping) else []
                if not isinstance(answers, list):
                    raise DataFileError(f"{source} is not a SQuAD file: {qa_where}.answers should be a list")
                for n, answer in enumerate(answers):
                    _require(answer, "text", str, f"{qa_where}.answers[{n}]", source)
                    start = _require(answer, "answer_start", int, f"{qa_where}.answers[{n}]", source)
                    if not 0 <= start <= len(context):
                        raise DataFileError(
                            f"{source}: {qa_where}.answers[{n}].answer_start={start} lies outside its context "
                            f"(length {len(context)})"
                        )
    if not seen_ids:
        raise DataFileError(f"{source} holds no questions")
    return dict(dataset)


def load_squad_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated raw SQuAD JSON object (what the official evaluators read)."""
    return validate_squad(read_json_file(path, "data file"), source=str(path))


def examples_from_squad(dataset: Mapping[str, Any]) -> list[Example]:
    examples = []
    for article in dataset["data"]:
        title = str(article.get("title", ""))
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = tuple(GoldAnswer(text=a["text"], start=int(a["answer_start"])) for a in qa.get("answers", []))
                examples.append(
                    Example(
                        id=str(qa["id"]),
                        question=qa["question"],
                        context=context,
                        answers=answers,
                        is_impossible=bool(qa.get("is_impossible", False)),
                        title=title,
                    )
                )
    return examples


def question_ids(dataset: Mapping[str, Any]) -> set[str]:
    """The ids of every question of a (validated) SQuAD dataset."""
    return {str(qa["id"]) for article in dataset["data"] for p in article["paragraphs"] for qa in p["qas"]}


def restrict_to_ids(dataset: Mapping[str, Any], ids: Collection[str]) -> dict[str, Any]:
    """The dataset with only the questions whose id is in `ids` (empty paragraphs and articles dropped)."""
    articles = []
    for article in dataset["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = [qa for qa in paragraph["qas"] if str(qa["id"]) in ids]
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    return {**dataset, "data": articles}


def article_contexts(examples: Iterable[Example]) -> dict[str, list[str]]:
    """Each title's paragraphs in file order; a paragraph is listed again only when other paragraphs
    came between (SQuAD files list a paragraph's questions together, so that is when a title recurs)."""
    by_title: dict[str, list[str]] = {}
    for example in examples:
        contexts = by_title.setdefault(example.title, [])
        if not contexts or contexts[-1] != example.context:
            contexts.append(example.context)
    return by_title


def examples_to_squad(examples: Iterable[Example], version: str = "1.1") -> dict[str, Any]:
    """Examples as a SQuAD object: one article per title, one paragraph per context, in first-seen order."""
    articles: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for example in examples:
        qa: dict[str, Any] = {
            "id": example.id,
            "question": example.question,
            "answers": [{"text": a.text, "answer_start": a.start} for a in example.answers],
        }
        if example.is_impossible:
            qa["is_impossible"] = True
        articles.setdefault(example.title, {}).setdefault(example.context, []).append(qa)
    return {
        "version": version,
        "data": [
            {"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()]}
            for title, paragraphs in articles.items()
        ],
    }


def load_squad(path: str | os.PathLike[str]) -> list[Example]:
    """Every question of a SQuAD v1.1 / v2.0 file as an Example, in file order."""
    return examples_from_squad(load_squad_json(path))


def write_predictions(path: str | os.PathLike[str], predictions: Mapping[str, Any]) -> None:
    """Write a `{id: value}` file atomically, in the form the official evaluators read."""
    write_json_atomic(path, dict(predictions))
