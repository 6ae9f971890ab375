"""`Index`: build, update, open and search an index of a user's files.

    index = Index.build(["~/papers", "notes.md"], "papers.index")   # or Index.open("papers.index")
    for passage in index.search("what limits the batch size?", k=5): ...
    result = index.ask("what limits the batch size?", reader)        # cited answers

Updating is incremental: a file whose size and modification time are unchanged is not read
again, one whose bytes hash the same is only re-stamped, a changed file replaces its own
documents, and files that no longer exist leave the index. Files are identified by their
resolved path, so the same file given twice (or through a symlink) is one document.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from spanqa.documents.formats import UnreadableFile, read_documents
from spanqa.documents.passages import MAX_PASSAGE_CHARS
from spanqa.documents.store import DATABASE_FILE, FileState, Store, StoredDocument, StoredPassage
from spanqa.errors import InputError

if TYPE_CHECKING:
    from spanqa.documents.answers import DocumentAnswers
    from spanqa.inference.reader import Reader


@dataclass
class IndexReport:
    """What one `update` did, and what the index holds afterwards."""

    files_seen: int = 0
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    passages_written: int = 0
    totals: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "files_seen": self.files_seen,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "passages_written": self.passages_written,
            "totals": self.totals,
        }


def _files_under(paths: Sequence[str | os.PathLike[str]], index_folder: Path) -> list[Path]:
    """Every file named or inside a named folder (hidden entries skipped), resolved and without repeats."""
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise InputError(f"{given} does not exist: check the path")
        if path.is_dir():
            inside = [p for p in _walk(path) if index_folder not in p.resolve().parents]
            if not inside:
                raise InputError(f"folder {given} holds no files to index")
            found.update(dict.fromkeys(p.resolve() for p in inside))
        else:
            found[path.resolve()] = None
    return sorted(found)


def _walk(folder: Path) -> Iterator[Path]:
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Index:
    """An index of documents on disk (a folder holding one SQLite database)."""

    def __init__(self, store: Store, excluded: Path | None = None) -> None:
        self.store = store
        self.folder = store.folder
        # Never index the index itself (nor, while rebuilding, the folder the staging copy sits in).
        self.excluded = (excluded or store.folder).resolve()
        self.report: IndexReport | None = None

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Index:
        """An existing index; a clear error says how to build one when there is none."""
        return cls(Store.open_existing(Path(folder).expanduser()))

    @classmethod
    def build(
        cls,
        paths: Sequence[str | os.PathLike[str]],
        folder: str | os.PathLike[str],
        progress: bool = False,
        rebuild: bool = False,
        max_passage_chars: int = MAX_PASSAGE_CHARS,
    ) -> Index:
        """Index `paths` (files and folders) into `folder`, updating an index already there.

        The report of the run is on `index.report`.
        """
        destination = Path(folder).expanduser()
        if destination.exists() and not destination.is_dir():
            raise InputError(f"--index {folder} is a file: give a folder for the index")
        if rebuild:
            return cls._rebuild(paths, destination, progress, max_passage_chars)
        index = cls(Store.create_or_open(destination))
        index.report = index.update(paths, progress=progress, max_passage_chars=max_passage_chars)
        return index

    @classmethod
    def _rebuild(cls, paths, destination: Path, progress: bool, max_passage_chars: int) -> Index:
        """A new index built beside the old one, then swapped in: until then the old one stays usable."""
        destination.mkdir(parents=True, exist_ok=True)
        # Hidden and inside the index folder, so the run never indexes its own staging copy.
        staging = destination / f".rebuild-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            fresh = cls(Store.create_or_open(staging), excluded=destination)
            report = fresh.update(paths, progress=progress, max_passage_chars=max_passage_chars)
            fresh.close()
            os.replace(staging / DATABASE_FILE, destination / DATABASE_FILE)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        index = cls.open(destination)
        index.report = report
        return index

    def update(
        self,
        paths: Sequence[str | os.PathLike[str]],
        progress: bool = False,
        max_passage_chars: int = MAX_PASSAGE_CHARS,
    ) -> IndexReport:
        """Bring the index in line with `paths`; each file's change is committed on its own."""
        files = _files_under(paths, self.excluded)
        known = self.store.file_states()
        report = IndexReport(files_seen=len(files))
        for path in _progress(files, progress):
            self._update_file(path, known.get(str(path)), report, max_passage_chars)
        for stale in sorted(set(known) - {str(path) for path in files}):
            if not Path(stale).exists():
                self.store.remove_file(stale)
                report.removed.append(stale)
        report.totals = self.store.counts()
        return report

    def _update_file(self, path: Path, known: FileState | None, report: IndexReport, max_chars: int) -> None:
        name = str(path)
        try:
            stat = path.stat()
            if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                report.unchanged += 1
                return
            state = FileState(stat.st_size, stat.st_mtime_ns, _hash(path))
            if known is not None and known.sha256 == state.sha256:
                self.store.touch_file(name, state)
                report.unchanged += 1
                return
            documents = read_documents(path)
        except UnreadableFile as skip:
            report.skipped.append((name, skip.reason))
            if known is not None:  # it was readable once; its old text no longer describes the file
                self.store.remove_file(name)
                report.removed.append(name)
            return
        except OSError as error:
            report.skipped.append((name, f"cannot be read: {error.strerror or error}"))
            return
        report.passages_written += self.store.replace_file(name, state, documents, max_chars)
        report.indexed.append(name)

    # -- reading ----------------------------------------------------------------------------------

    def search(self, question: str, k: int = 5) -> list[StoredPassage]:
        """The k passages that BM25 ranks highest for `question`, best first."""
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty: give a question")
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        return self.store.search(question, k)

    def documents(self) -> list[StoredDocument]:
        return self.store.documents()

    def document(self, document_id: int) -> StoredDocument:
        return self.store.document(document_id)

    def passages(self, document_id: int) -> list[StoredPassage]:
        """A document's passages in reading order."""
        return self.store.passages_of(document_id)

    def counts(self) -> dict[str, int]:
        """How many files, documents, pages and passages the index holds."""
        return self.store.counts()

    def ask(self, question: str, reader: Reader, top_k: int = 3, passages: int = 5, **settings) -> DocumentAnswers:
        """Retrieve `passages` passages, read them together, return `top_k` cited answers."""
        from spanqa.documents.answers import ask_index

        return ask_index(reader, self, question, top_k=top_k, passages=passages, **settings)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _progress(files: Sequence[Path], show: bool) -> Iterable[Path]:
    if not show:
        return files
    from tqdm import tqdm

    return tqdm(files, unit="file", desc="indexing", dynamic_ncols=True)
