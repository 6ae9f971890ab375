"""The output of a batch job: one Parquet or JSONL part per input chunk, and the job file that makes it resumable.

A part is written atomically (spanqa.fileio), so a part that exists is complete: a job started
again with the same --out skips it, and every id ends up in exactly one part. The job file
(`_spanqa_job.json`) records what the parts were made from; a second job with another input,
model or settings into the same folder is refused rather than mixed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from spanqa.data.tables import Chunk, import_pyarrow
from spanqa.errors import DataFileError, InputError
from spanqa.fileio import write_atomic, write_json_atomic

PartFormat = Literal["parquet", "jsonl"]
JOB_FILE = "_spanqa_job.json"
# What each output row holds; `answers` is the top-k list, `error` is None unless the row could not be answered.
OUTPUT_COLUMNS = ("id", "answer", "start", "end", "score", "no_answer_probability", "answers", "error")


def output_schema():
    pa = import_pyarrow()
    answer = pa.struct([("answer", pa.string()), ("score", pa.float64()), ("start", pa.int64()), ("end", pa.int64())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("answer", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("score", pa.float64()),
            ("no_answer_probability", pa.float64()),
            ("answers", pa.list_(answer)),
            ("error", pa.string()),
        ]
    )


def to_arrow(columns: Mapping[str, Sequence[Any]]):
    """Output columns as a pyarrow Table with the output schema (the same types in every part)."""
    return import_pyarrow().table({name: list(columns[name]) for name in OUTPUT_COLUMNS}, schema=output_schema())


def part_path(out: Path, name: str, fmt: PartFormat) -> Path:
    return out / f"{name}.{fmt}"


def write_part(out: Path, name: str, fmt: PartFormat, columns: Mapping[str, Sequence[Any]]) -> Path:
    """Write one part atomically; `columns` holds at least OUTPUT_COLUMNS (others are not written)."""
    path = part_path(out, name, fmt)
    if fmt == "parquet":
        table = to_arrow(columns)
        write_atomic(path, lambda tmp: import_pyarrow().parquet.write_table(table, tmp))
    else:
        rows = [
            dict(zip(OUTPUT_COLUMNS, values, strict=True))
            for values in zip(*(columns[c] for c in OUTPUT_COLUMNS), strict=True)
        ]
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def pending_chunks(out: Path, chunks: Sequence[Chunk], fmt: PartFormat, job: Mapping[str, Any]) -> list[Chunk]:
    """The chunks whose part is not written yet; records the job in `out` (or checks it is the same job)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give a folder for the parts (or --format squad for one JSON file)")
    record = {**job, "format": fmt, "parts": {chunk.name: chunk.rows for chunk in chunks}}
    job_file = out / JOB_FILE
    if job_file.exists():
        previous = json.loads(job_file.read_text(encoding="utf-8"))
        changed = sorted(key for key in record.keys() | previous.keys() if record.get(key) != previous.get(key))
        if changed:
            raise InputError(
                f"--out {out} holds the parts of another job (it differs in: {', '.join(changed)}): "
                "use a new --out, or delete that folder to start over"
            )
    elif out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out} is a folder that holds other files: use a new or empty folder")
    write_json_atomic(job_file, record)
    for leftover in out.glob(".*.tmp"):  # a part being written when a previous run was killed
        leftover.unlink(missing_ok=True)
    return [chunk for chunk in chunks if not part_path(out, chunk.name, fmt).exists()]


def read_parts(out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every row of every part in `out`, part by part in input order (for checks and --format squad)."""
    folder = Path(out)
    job_file = folder / JOB_FILE
    if not job_file.exists():
        raise DataFileError(f"{folder} holds no {JOB_FILE}: it is not the output of spanqa predict")
    job = json.loads(job_file.read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = []
    for name in job["parts"]:  # the job file keeps the input's order
        path = part_path(folder, name, job["format"])
        if job["format"] == "parquet":
            rows.extend(import_pyarrow().parquet.read_table(path).to_pylist())
        else:
            rows.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return rows
