"""The index on disk: one SQLite database with an FTS5 full-text table ranked by BM25.

Why SQLite FTS5: it ships with Python (no extra to install), ranks with BM25, updates in
place (a changed file replaces only its own rows), and every change is a transaction, so a
run killed mid-index leaves the last committed state readable: each file is in the index
whole or not at all. README ("Questions over your documents") has the measurements behind
the choice.

Tables: `files` (one row per indexed file, with what tells a changed file from an unchanged
one), `documents` (the extracted text a citation's offsets count into), `passages` (page
and offsets of each passage) and `passages_fts` (the searchable text, rowid = passage id).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spanqa.documents.formats import SourceDocument
from spanqa.documents.passages import split_passages
from spanqa.errors import InputError

DATABASE_FILE = "index.sqlite3"
# Bumped whenever the tables change meaning; an index of another format is refused, not misread.
FORMAT_VERSION = 1

# English stemming (porter) over Unicode words, accents folded: "Québec" finds "quebec", "defeated" finds "defeat".
FTS5_TOKENIZER = "porter unicode61 remove_diacritics 2"
_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (
  path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE documents (
  id INTEGER PRIMARY KEY, path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE,
  key TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, page_starts TEXT NOT NULL, paged INTEGER NOT NULL,
  UNIQUE (path, key)
);
CREATE TABLE passages (
  id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  page INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL
);
CREATE INDEX passages_by_document ON passages(document_id);
CREATE VIRTUAL TABLE passages_fts USING fts5(text, tokenize = '{FTS5_TOKENIZER}');
"""

# Words so common that matching them says nothing about a passage; leaving them out of the
# query keeps BM25's OR query from touching nearly every row of a large index.
STOPWORDS = frozenset(
    """a an and are as at be been but by can did do does for from had has have how i in into is it its
    of on or that the their there these they this to was were what when where which who whom whose why
    will with would you your""".split()  # noqa: SIM905 (a word list reads better as words)
)
_WORD = re.compile(r"\w+")


DOCUMENT_INFO_COLUMNS = "id, path, key, title, page_starts, paged"
DOCUMENT_COLUMNS = "id, path, key, title, text, page_starts, paged"


@dataclass(frozen=True)
class FileState:
    """What tells a changed file from an unchanged one."""

    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class DocumentInfo:
    """A document without its text: what a citation needs besides the passage."""

    id: int
    path: str
    key: str
    title: str
    page_starts: tuple[int, ...]
    paged: bool

    def page_of(self, offset: int) -> int:
        """The 1-based page holding character `offset` of the text."""
        page = 1
        for number, start in enumerate(self.page_starts, start=1):
            if start <= offset:
                page = number
        return page


@dataclass(frozen=True)
class StoredDocument(DocumentInfo):
    text: str  # the extracted text that every offset counts into

    def page_text(self, page: int) -> str:
        start = self.page_starts[page - 1]
        end = self.page_starts[page] - 1 if page < len(self.page_starts) else len(self.text)
        return self.text[start:end]


@dataclass(frozen=True)
class StoredPassage:
    """Characters [start, end) of a document's text, all on page `page`; `score` is its BM25 score."""

    id: int
    document: DocumentInfo
    page: int
    start: int
    end: int
    score: float
    text: str  # == the document's text[start:end]

    @property
    def page_start(self) -> int:
        """Where the passage begins in its page's text."""
        return self.start - self.document.page_starts[self.page - 1]


def query_terms(question: str) -> list[str]:
    """The words of a question that BM25 should match, in order, without repeats."""
    words = [word.lower() for word in _WORD.findall(question)]
    kept = [word for word in words if word not in STOPWORDS] or words
    return list(dict.fromkeys(kept))


def match_expression(question: str) -> str | None:
    """The FTS5 MATCH expression for a question: its words OR-ed, each quoted (None: no words)."""
    terms = query_terms(question)
    return " OR ".join(f'"{term}"' for term in terms) if terms else None


class Store:
    """A connection to one index database; all writes go through `replace_file` / `remove_file`."""

    def __init__(self, connection: sqlite3.Connection, folder: Path) -> None:
        self.connection = connection
        self.folder = folder

    @classmethod
    def create_or_open(cls, folder: Path) -> Store:
        folder.mkdir(parents=True, exist_ok=True)
        connection = _connect(folder / DATABASE_FILE)
        if connection.execute("SELECT name FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
            # One script, one transaction: a run killed here leaves no half-made schema behind.
            connection.executescript(
                f"BEGIN; {_SCHEMA} INSERT INTO meta VALUES ('format_version', '{FORMAT_VERSION}'); COMMIT;"
            )
        store = cls(connection, folder)
        store.check_version()
        return store

    @classmethod
    def open_existing(cls, folder: Path) -> Store:
        database = folder / DATABASE_FILE
        if not database.is_file():
            raise InputError(
                f"no index at {folder}: build one with `spanqa index PATH... --index {folder}`"
            )
        store = cls(_connect(database), folder)
        store.check_version()
        return store

    def check_version(self) -> None:
        try:
            row = self.connection.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        except sqlite3.DatabaseError as error:
            raise InputError(f"{self.folder} is not a spanqa index ({error}): rebuild it with `spanqa index`") from None
        version = int(row[0]) if row else None
        if version != FORMAT_VERSION:
            raise InputError(
                f"the index at {self.folder} has format {version}; this spanqa reads format {FORMAT_VERSION}: "
                f"rebuild it with `spanqa index PATH... --index {self.folder} --rebuild`"
            )

    def close(self) -> None:
        self.connection.close()

    # -- files ----------------------------------------------------------------------------------

    def file_states(self) -> dict[str, FileState]:
        rows = self.connection.execute("SELECT path, size, mtime_ns, sha256 FROM files")
        return {path: FileState(size, mtime_ns, sha256) for path, size, mtime_ns, sha256 in rows}

    def touch_file(self, path: str, state: FileState) -> None:
        """Same content, new timestamp: remember it so the next run need not hash the file again."""
        with self.connection:
            self.connection.execute(
                "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (state.size, state.mtime_ns, path)
            )

    def replace_file(self, path: str, state: FileState, documents: Sequence[SourceDocument], max_chars: int) -> int:
        """Put `documents` in place of whatever `path` held, in one transaction; returns the passage count."""
        passages = 0
        with self.connection:
            self._delete_file(path)
            self.connection.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?)", (path, state.size, state.mtime_ns, state.sha256)
            )
            for document in documents:
                passages += self._insert_document(path, document, max_chars)
        return passages

    def remove_file(self, path: str) -> None:
        with self.connection:
            self._delete_file(path)

    def _delete_file(self, path: str) -> None:
        self.connection.execute(
            "DELETE FROM passages_fts WHERE rowid IN "
            "(SELECT passages.id FROM passages JOIN documents ON passages.document_id = documents.id "
            "WHERE documents.path = ?)",
            (path,),
        )
        self.connection.execute("DELETE FROM files WHERE path = ?", (path,))

    def _insert_document(self, path: str, document: SourceDocument, max_chars: int) -> int:
        text = document.text
        page_starts = document.page_starts()
        cursor = self.connection.execute(
            "INSERT INTO documents (path, key, title, text, page_starts, paged) VALUES (?, ?, ?, ?, ?, ?)",
            (path, document.key, document.title, text, json.dumps(page_starts), int(path.lower().endswith(".pdf"))),
        )
        document_id = cursor.lastrowid
        count = 0
        for page_number, (page, page_start) in enumerate(zip(document.pages, page_starts, strict=True), start=1):
            for span in split_passages(page, max_chars):
                start, end = page_start + span.start, page_start + span.end
                row = self.connection.execute(
                    "INSERT INTO passages (document_id, page, start, end) VALUES (?, ?, ?, ?)",
                    (document_id, page_number, start, end),
                )
                self.connection.execute(
                    "INSERT INTO passages_fts (rowid, text) VALUES (?, ?)", (row.lastrowid, text[start:end])
                )
                count += 1
        return count

    # -- reading --------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        def count(sql: str) -> int:
            return int(self.connection.execute(sql).fetchone()[0] or 0)

        return {
            "files": count("SELECT COUNT(*) FROM files"),
            "documents": count("SELECT COUNT(*) FROM documents"),
            "pages": count("SELECT SUM(json_array_length(page_starts)) FROM documents"),
            "passages": count("SELECT COUNT(*) FROM passages"),
        }

    def document(self, document_id: int) -> StoredDocument:
        return _document_from_row(self._document_row(DOCUMENT_COLUMNS, document_id))

    def document_info(self, document_id: int) -> DocumentInfo:
        """The document without its text (which can be megabytes): what a search hit needs."""
        document_id, path, key, title, page_starts, paged = self._document_row(DOCUMENT_INFO_COLUMNS, document_id)
        return DocumentInfo(document_id, path, key, title, tuple(json.loads(page_starts)), bool(paged))

    def _document_row(self, columns: str, document_id: int) -> tuple:
        row = self.connection.execute(f"SELECT {columns} FROM documents WHERE id = ?", (document_id,)).fetchone()
        if row is None:
            raise InputError(f"the index has no document {document_id}")
        return row

    def documents(self) -> list[StoredDocument]:
        rows = self.connection.execute(
            f"SELECT {DOCUMENT_COLUMNS} FROM documents ORDER BY path, key"
        )
        return [_document_from_row(row) for row in rows]

    def passages_of(self, document_id: int) -> list[StoredPassage]:
        """Every passage of a document, in reading order (score 0: nothing was searched)."""
        document = self.document(document_id)
        rows = self.connection.execute(
            "SELECT id, page, start, end FROM passages WHERE document_id = ? ORDER BY start", (document_id,)
        )
        return [
            StoredPassage(pid, document, page, start, end, score=0.0, text=document.text[start:end])
            for pid, page, start, end in rows
        ]

    def search(self, question: str, k: int) -> list[StoredPassage]:
        """The k passages BM25 ranks highest for the question's words (best first)."""
        match = match_expression(question)
        if match is None:
            return []
        rows = self.connection.execute(
            "SELECT passages_fts.rowid, bm25(passages_fts) AS rank FROM passages_fts "
            "WHERE passages_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, k),
        ).fetchall()
        found = []
        documents: dict[int, DocumentInfo] = {}
        for passage_id, rank in rows:
            # The passage's text comes from its FTS row: a hit never loads its document's whole text.
            document_id, page, start, end, text = self.connection.execute(
                "SELECT p.document_id, p.page, p.start, p.end, f.text FROM passages p "
                "JOIN passages_fts f ON f.rowid = p.id WHERE p.id = ?",
                (passage_id,),
            ).fetchone()
            if document_id not in documents:
                documents[document_id] = self.document_info(document_id)
            # FTS5's bm25() is negated so that ORDER BY rank puts the best first; report the usual sign.
            found.append(StoredPassage(passage_id, documents[document_id], page, start, end, -rank, text))
        return found



def _connect(database: Path) -> sqlite3.Connection:
    try:
        # check_same_thread=False: the server opens the index on one thread and searches it from its
        # worker threads; whoever shares a Store across threads serialises its use (serve/served_index.py).
        connection = sqlite3.connect(database, check_same_thread=False)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.DatabaseError as error:
        raise InputError(f"{database} is not a spanqa index ({error}): rebuild it with `spanqa index`") from None
    return connection


def _document_from_row(row: tuple) -> StoredDocument:
    document_id, path, key, title, text, page_starts, paged = row
    return StoredDocument(document_id, path, key, title, tuple(json.loads(page_starts)), bool(paged), text)
