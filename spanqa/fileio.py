"""Atomic writes of files and folders: a reader never sees half of one, a crash leaves the old one whole."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_permissions_normal(path: Path) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries; give them the usual umask-based mode."""
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~current_umask())


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)`, then rename the finished file onto `path`.

    The temporary file lives in the destination folder so the final rename
    stays on one file system and is atomic.
    """
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        make_permissions_normal(tmp_path)
        os.replace(tmp_path, destination)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike[str], payload: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(payload, ensure_ascii=False, indent=indent) + "\n")


def swap_folder(staging: Path, destination: Path) -> None:
    """Put the finished folder `staging` where `destination` is; an old `destination` is replaced whole."""
    if destination.exists():
        retired = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        os.replace(destination, retired)
        os.replace(staging, destination)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, destination)


@contextlib.contextmanager
def staged_folder(
    destination: str | os.PathLike[str], install: Callable[[Path, Path], None] = swap_folder
) -> Iterator[Path]:
    """Build a folder under a temporary name beside `destination`, then `install` it there.

        with staged_folder(out) as staging:
            (staging / "model.onnx").write_bytes(...)

    The staging folder sits in the destination's parent (one file system: renames are atomic)
    and gets the usual permissions. If the block raises, it is removed and `destination` is
    untouched. `install(staging, destination)` defaults to replacing the whole folder.
    """
    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        make_permissions_normal(staging)
        yield staging
        install(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
