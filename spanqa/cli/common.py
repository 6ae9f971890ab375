"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spanqa.errors import InputError

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model folder (default, or 'default': the model shipped with spanqa)."),
]
BackendOption = Annotated[
    str,
    typer.Option(
        help="Inference backend: torch, onnx, openvino (pip install 'spanqa[openvino]'), or auto (an ONNX model "
        "folder runs on onnx, an OpenVINO one on openvino)."
    ),
]
PrecisionOption = Annotated[
    str, typer.Option(help="fp32, bf16 (torch), int8 (onnx, openvino), or auto (int8 when the folder has it).")
]


BYTE_ORDER_MARK = "\ufeff"


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of `path`. A leading byte order mark is dropped, as Python's "utf-8-sig" drops it:
    it is no part of the text (editors on Windows add it), and answer offsets must not count it."""
    if not path.exists():
        raise InputError(f"{what} {path} does not exist: check the path")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a text file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{what} {path} is not UTF-8 text ({error.reason} at byte {error.start}): save it as UTF-8 "
            "(e.g. `iconv -f LATIN1 -t UTF-8`)"
        ) from error
    except OSError as error:
        raise InputError(f"{what} {path} cannot be read: {error.strerror}") from error


def without_byte_order_mark(text: str) -> str:
    """`text` without one leading byte order mark (text piped on stdin, decoded as plain UTF-8)."""
    return text[1:] if text.startswith(BYTE_ORDER_MARK) else text


ThreadsOption = Annotated[int | None, typer.Option(help="CPU threads for the model (default: all cores).")]
MaxContextCharsOption = Annotated[
    int | None, typer.Option(help="Refuse longer contexts (default: the model's max_context_chars, 1,000,000).")
]


def load_reader(model: str | None, backend: str, precision: str, threads: int | None = None, **settings):
    """The reader for --model; "default" (or nothing) is the model shipped with spanqa."""
    from spanqa.inference.reader import Reader

    return Reader.load(model, backend=backend, precision=precision, threads=threads, **settings)
