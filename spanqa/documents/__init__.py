"""Questions over a user's own documents: parse files, index passages, retrieve, read, cite.

    formats   file -> text per page (pypdf, trafilatura, python-docx; .txt/.md/.jsonl as they are)
    passages  page -> sentence-aligned passages that fit the reader's window
    store     the SQLite FTS5 database (BM25) on disk
    index     Index: build / update / open / search
    answers   the reader over retrieved passages -> DocumentAnswer with file, page and offsets
"""

from spanqa.documents.answers import DocumentAnswer, DocumentAnswers, ask_index
from spanqa.documents.index import Index, IndexReport

__all__ = ["DocumentAnswer", "DocumentAnswers", "Index", "IndexReport", "ask_index"]
