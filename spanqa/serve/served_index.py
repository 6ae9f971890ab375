"""The index a server answers questions over (`spanqa serve --index`), safe to share between its threads.

One SQLite connection is opened at start-up, so that a missing index, or one of another format
version, is an error before the server listens. The server searches it from worker threads (off
the event loop), so every use of the connection holds one lock: SQLite searches take
milliseconds, next to the reader's hundreds, and one connection needs no per-thread bookkeeping
to close.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from spanqa.documents import Index
from spanqa.documents.store import StoredDocument, StoredPassage


class ServedIndex:
    """An open `Index` behind a lock: `search`, `document` and `counts` may be called from any thread."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.folder: Path = index.folder
        self._lock = threading.Lock()

    @classmethod
    def open(cls, source: ServedIndex | Index | str | os.PathLike[str]) -> ServedIndex:
        """Serve `source`: an index folder (opened and checked now), an open Index, or a ServedIndex as it is."""
        if isinstance(source, ServedIndex):
            return source
        return cls(source if isinstance(source, Index) else Index.open(source))

    def search(self, question: str, k: int) -> list[StoredPassage]:
        with self._lock:
            return self.index.search(question, k)

    def document(self, document_id: int) -> StoredDocument:
        with self._lock:
            return self.index.document(document_id)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return self.index.counts()

    def close(self) -> None:
        with self._lock:
            self.index.close()
