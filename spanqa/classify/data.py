"""Texts and labelled texts from files: .txt (one text per line), .jsonl (one object per line), .csv (a header row).

The same reader serves `spanqa classify --file`, `spanqa train --task classify` and
`spanqa evaluate --task classify`; a wrong column is one DataFileError naming the columns there are.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spanqa.data.json_lines import json_lines
from spanqa.errors import DataFileError

FORMATS = (".txt", ".jsonl", ".csv")


@dataclass(frozen=True)
class LabelledText:
    text: str
    text_pair: str | None
    label: str  # for multi-label data: labels joined by LABEL_SEPARATOR

    @property
    def item(self) -> str | tuple[str, str]:
        return self.text if self.text_pair is None else (self.text, self.text_pair)


LABEL_SEPARATOR = "|"


def _read(path: Path) -> str:
    if not path.is_file():
        raise DataFileError(f"data file {path} does not exist (or is a folder): check the path")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataFileError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): save it as UTF-8"
        ) from error


def read_records(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """The rows of a .jsonl or .csv file as dicts (a .txt file: one {"text": line} per non-blank line)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataFileError(
            f"{path}: classification data must be .txt, .jsonl or .csv, got {suffix or 'no extension'!r}"
        )
    text = _read(path)
    if suffix == ".txt":
        return [{"text": line} for line in text.splitlines() if line.strip()]
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        rows = [dict(row) for row in reader]
        if reader.fieldnames is None:
            raise DataFileError(f"{path} is empty: a CSV file needs a header row naming its columns")
        return rows

    def problem(number: int, what: str) -> DataFileError:
        return DataFileError(f"{path}, line {number} {what}: each line must be a JSON object")

    return [row for _, row in json_lines(text, problem)]


def _column(rows: Sequence[dict[str, object]], name: str, path: Path, option: str) -> list[str]:
    values = []
    for number, row in enumerate(rows, start=1):
        if name not in row:
            columns = ", ".join(sorted(map(str, row))) or "none"
            raise DataFileError(f"{path} has no column {name!r} (row {number} has: {columns}): pass {option} COLUMN")
        value = row[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataFileError(f"{path}, row {number}: column {name!r} is empty: every row needs a value there")
        if isinstance(value, list):
            value = LABEL_SEPARATOR.join(map(str, value))
        values.append(str(value))
    return values


def read_texts(
    path: str | os.PathLike[str], text_column: str = "text", text_pair_column: str | None = None
) -> list[str | tuple[str, str]]:
    """The items of a file, in order: texts, or (text, text_pair) pairs with `text_pair_column`."""
    rows = read_records(path)
    if not rows:
        raise DataFileError(f"{path} holds no texts")
    texts = _column(rows, text_column, Path(path), "--text-column")
    if text_pair_column is None:
        return list(texts)
    pairs = _column(rows, text_pair_column, Path(path), "--text-pair-column")
    return list(zip(texts, pairs, strict=True))


def read_labelled(
    path: str | os.PathLike[str], text_column: str, label_column: str, text_pair_column: str | None = None
) -> list[LabelledText]:
    """Labelled rows of a .csv or .jsonl file (a JSONL label may be a list: multi-label data)."""
    if Path(path).suffix.lower() == ".txt":
        raise DataFileError(f"{path}: labelled data must be .csv or .jsonl (a .txt file has no label column)")
    rows = read_records(path)
    if not rows:
        raise DataFileError(f"{path} holds no rows")
    texts = _column(rows, text_column, Path(path), "--text-column")
    labels = _column(rows, label_column, Path(path), "--label-column")
    pairs = _column(rows, text_pair_column, Path(path), "--text-pair-column") if text_pair_column else None
    return [
        LabelledText(text, pairs[i] if pairs else None, label)
        for i, (text, label) in enumerate(zip(texts, labels, strict=True))
    ]


def split_labels(label: str, multi_label: bool) -> list[str]:
    return [part.strip() for part in label.split(LABEL_SEPARATOR) if part.strip()] if multi_label else [label]
