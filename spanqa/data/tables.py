"""Tables of questions to answer: SQuAD JSON, JSONL or Parquet (a file or a folder of parts), cut into chunks.

A chunk is a slice of one input file (at most `rows_per_part` rows); it is the unit a batch job
answers and writes as one output part, named after its input file and its position in it, so a
job started again knows which parts are done. `plan_chunks` checks the columns and counts the
rows up front (one clear error before any work starts); `read_chunk` reads one chunk's rows,
wherever it runs (the driver, or a Ray worker that can see the same files).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from spanqa.data.json_lines import json_lines
from spanqa.errors import DataFileError, InputError, MissingExtraError

InputKind = Literal["squad", "jsonl", "parquet"]
REQUIRED_COLUMNS = ("id", "question", "context")
SUFFIX_KINDS: dict[str, InputKind] = {".json": "squad", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DEFAULT_ROWS_PER_PART = 10_000


@dataclass(frozen=True)
class Chunk:
    """Rows [offset, offset + rows) of one input file, written as the output part `name`."""

    name: str
    source: str
    kind: InputKind
    offset: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # the submodule is what reads and writes parts
    except ImportError as error:
        raise MissingExtraError('Parquet needs pyarrow: pip install "spanqa[ray]" (or pip install pyarrow)') from error
    return pyarrow


def input_files(path: str | os.PathLike[str]) -> list[Path]:
    """The input file, or the data files of a folder in name order (hidden and `_` files skipped)."""
    root = Path(path)
    if not root.exists():
        raise DataFileError(f"input {root} does not exist: check the path")
    if root.is_file():
        input_kind(root)
        return [root]
    files = sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SUFFIX_KINDS and p.name[0] not in "._"
    )
    if not files:
        raise DataFileError(f"input folder {root} holds no .json, .jsonl or .parquet file")
    return files


def input_kind(path: Path) -> InputKind:
    kind = SUFFIX_KINDS.get(path.suffix.lower())
    if kind is None:
        raise DataFileError(
            f"input {path} has the suffix {path.suffix or '(none)'!r}: use a SQuAD .json, a .jsonl or a .parquet file"
        )
    return kind


def check_columns(names: list[str] | tuple[str, ...], where: str) -> None:
    """One error naming every required column that `names` lacks."""
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise DataFileError(
            f"{where} has no {', '.join(repr(m) for m in missing)} column: every row needs "
            f"{', '.join(REQUIRED_COLUMNS)} (found: {', '.join(names) or 'none'})"
        )


def plan_chunks(path: str | os.PathLike[str], rows_per_part: int = DEFAULT_ROWS_PER_PART) -> list[Chunk]:
    """Every chunk of the input, in order; the columns of each file are checked first."""
    if isinstance(rows_per_part, bool) or not isinstance(rows_per_part, int) or rows_per_part < 1:
        raise InputError(f"rows_per_part must be a positive integer, got {rows_per_part!r}")
    chunks = []
    for file in input_files(path):
        kind = input_kind(file)
        total = count_rows(file, kind)
        for number, offset in enumerate(range(0, total, rows_per_part)):
            name = f"{file.stem}-{number:05d}"
            chunks.append(Chunk(name, str(file.resolve()), kind, offset, min(rows_per_part, total - offset)))
    if not chunks:  # an empty file or folder is a mistake in the input, not zero answers to write
        raise DataFileError(f"input {path} holds no questions: give rows with {', '.join(REQUIRED_COLUMNS)}")
    return chunks


def count_rows(file: Path, kind: InputKind) -> int:
    if kind == "parquet":
        parquet = import_pyarrow().parquet
        try:
            metadata = parquet.read_metadata(file)
        except Exception as error:  # pyarrow raises ArrowInvalid / OSError for a file that is no Parquet
            raise DataFileError(f"input {file} cannot be read as Parquet: {error}") from error
        check_columns(metadata.schema.to_arrow_schema().names, f"input {file}")
        return metadata.num_rows
    return len(read_rows(file, kind))


def read_rows(file: Path, kind: InputKind) -> list[dict[str, Any]]:
    """Every row of a SQuAD or JSONL file as {id, question, context}, columns checked."""
    if kind == "squad":
        from spanqa.data.squad import load_squad

        return [{"id": e.id, "question": e.question, "context": e.context} for e in load_squad(file)]
    rows = []
    try:
        text = file.read_text(encoding="utf-8-sig")  # a leading BOM is no part of line 1
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"input {file} cannot be read as UTF-8 text: {error}") from error

    def problem(number: int, what: str) -> DataFileError:
        return DataFileError(
            f"input {file}, line {number}, {what}: each line should be a JSON object with {', '.join(REQUIRED_COLUMNS)}"
        )

    for number, record in json_lines(text, problem):
        check_columns(list(record), f"input {file}, line {number},")
        rows.append({column: record[column] for column in REQUIRED_COLUMNS})
    return rows


def read_chunk(chunk: Chunk) -> dict[str, list[Any]]:
    """The chunk's rows as columns {id, question, context}; ids as text."""
    file = Path(chunk.source)
    if chunk.kind == "parquet":
        columns = read_parquet_rows(file, chunk.offset, chunk.rows)
    else:
        rows = read_rows(file, chunk.kind)[chunk.offset : chunk.offset + chunk.rows]
        columns = {column: [row[column] for row in rows] for column in REQUIRED_COLUMNS}
    columns["id"] = [str(value) for value in columns["id"]]
    if len(columns["id"]) != chunk.rows:
        raise DataFileError(
            f"input {file} changed while the job ran: chunk {chunk.name} holds {len(columns['id'])} "
            f"rows, not {chunk.rows}; start again with a new --out"
        )
    return columns


def read_parquet_rows(file: Path, offset: int, rows: int) -> dict[str, list[Any]]:
    """Rows [offset, offset + rows) of a Parquet file, reading only the row groups that hold them."""
    parquet = import_pyarrow().parquet
    handle = parquet.ParquetFile(file)
    groups, first_row, start = [], None, 0
    for group in range(handle.num_row_groups):
        size = handle.metadata.row_group(group).num_rows
        if start + size > offset and start < offset + rows:
            groups.append(group)
            first_row = start if first_row is None else first_row
        start += size
    table = handle.read_row_groups(groups, columns=list(REQUIRED_COLUMNS)) if groups else None
    if table is None:
        return {column: [] for column in REQUIRED_COLUMNS}
    return table.slice(offset - (first_row or 0), rows).to_pydict()
