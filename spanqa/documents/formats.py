"""Read a user's file into plain text, page by page, with the parser made for its format.

A file becomes one or more `SourceDocument`s (a .jsonl file holds one per record). Each keeps
its pages as separate texts: the index stores them, and every answer's offsets count
characters of that stored text, so `document.text[start:end] == answer` can be checked by
anyone holding the index. A file that cannot be read raises `UnreadableFile` with a reason a
person can act on; the indexer skips it and reports the reason instead of stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spanqa.data.json_lines import json_lines
from spanqa.errors import MissingExtraError

# Page texts are joined with a form feed, the page-break character PDF-to-text tools (and
# Haystack's converters) use, so a document's text still shows where its pages end.
PAGE_BREAK = "\f"
DOCS_EXTRA_HINT = 'pip install "spanqa[docs]"'


class UnreadableFile(Exception):
    """A file the indexer skips; `reason` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SourceDocument:
    """The text of one document: `key` is unique within its file ("" for single-document files)."""

    key: str
    title: str
    pages: tuple[str, ...]

    @property
    def text(self) -> str:
        return PAGE_BREAK.join(self.pages)

    def page_starts(self) -> tuple[int, ...]:
        """Where each page begins in `text`."""
        starts, position = [], 0
        for page in self.pages:
            starts.append(position)
            position += len(page) + len(PAGE_BREAK)
        return tuple(starts)


def _decode_utf8(data: bytes, what: str) -> str:
    # utf-8-sig: a byte-order mark is an encoding marker, not text; counting it would shift every offset.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        reason = f"{what} is not UTF-8 ({error.reason} at byte {error.start}); convert it to UTF-8"
        raise UnreadableFile(reason) from None


def _single(path: Path, text: str) -> list[SourceDocument]:
    if not text.strip():
        raise UnreadableFile("empty: no text in the file")
    return [SourceDocument(key="", title=path.stem, pages=(text,))]


def read_plain_text(path: Path) -> list[SourceDocument]:
    """.txt and .md: the file's own characters, so offsets point into the file as a user opens it."""
    return _single(path, _decode_utf8(path.read_bytes(), "the file"))


def read_html(path: Path) -> list[SourceDocument]:
    """The main text of a web page (trafilatura drops navigation, footers and other boilerplate)."""
    try:
        import trafilatura
    except ImportError as error:
        raise MissingExtraError(f"reading HTML needs trafilatura: {DOCS_EXTRA_HINT}") from error
    html = _decode_utf8(path.read_bytes(), "the page")
    extracted = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, include_tables=True)
    text = getattr(extracted, "text", None) or ""
    if not text.strip():
        raise UnreadableFile("no main text found in the page")
    return [SourceDocument(key="", title=getattr(extracted, "title", None) or path.stem, pages=(text,))]


def read_pdf(path: Path) -> list[SourceDocument]:
    """The text layer of each page (pypdf); page boundaries are kept so answers cite their page."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as error:
        raise MissingExtraError(f"reading PDF needs pypdf: {DOCS_EXTRA_HINT}") from error
    # pypdf logs every repair it makes on a damaged file; the skip reason below says what matters.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        pdf = PdfReader(path)
        if pdf.is_encrypted and not pdf.decrypt(""):
            raise UnreadableFile("encrypted PDF: it needs a password; save a decrypted copy to index it")
        pages = tuple(page.extract_text() or "" for page in pdf.pages)
    except UnreadableFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise UnreadableFile(f"not a readable PDF ({type(error).__name__}: {error})") from None
    except Exception as error:  # pypdf raises assorted errors on damaged files; one bad file must not stop a run
        raise UnreadableFile(f"damaged PDF ({type(error).__name__}: {error})") from None
    if not any(page.strip() for page in pages):
        raise UnreadableFile("image-only PDF: no text layer (run OCR on it first, e.g. ocrmypdf)")
    title = (pdf.metadata.title if pdf.metadata else None) or path.stem
    return [SourceDocument(key="", title=str(title), pages=pages)]


def read_docx(path: Path) -> list[SourceDocument]:
    """Paragraphs and table cells of a Word file (python-docx), one per line."""
    try:
        import docx
    except ImportError as error:
        raise MissingExtraError(f"reading .docx needs python-docx: {DOCS_EXTRA_HINT}") from error
    try:
        document = docx.Document(str(path))
    except Exception as error:  # a zip that is not a Word file raises several kinds of errors
        raise UnreadableFile(f"not a readable .docx ({type(error).__name__})") from None
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    [single] = _single(path, "\n".join(lines))
    return [SourceDocument(key="", title=document.core_properties.title or path.stem, pages=single.pages)]


def read_jsonl(path: Path) -> list[SourceDocument]:
    """One document per line: {"id": ..., "title"?: ..., "text": ...}."""
    text = _decode_utf8(path.read_bytes(), "the file")
    documents, seen = [], set()

    def problem(number: int, what: str) -> UnreadableFile:
        return UnreadableFile(f"line {number} {what}; fix or remove that line")

    for number, record in json_lines(text, problem):
        if not isinstance(record.get("text"), str):
            raise UnreadableFile(f'line {number} is not an object with a "text" string')
        key = record.get("id", number)
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise UnreadableFile(f'line {number}: "id" must be a string or an integer')
        key = str(key)
        if key in seen:
            raise UnreadableFile(f'line {number}: id "{key}" appears twice; ids must be unique within a file')
        seen.add(key)
        if record["text"].strip():
            title = record.get("title")
            documents.append(SourceDocument(key=key, title=str(title) if title else key, pages=(record["text"],)))
    if not documents:
        raise UnreadableFile("empty: no record with text")
    return documents


READERS: dict[str, Callable[[Path], list[SourceDocument]]] = {
    ".txt": read_plain_text,
    ".md": read_plain_text,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".jsonl": read_jsonl,
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in READERS


def read_documents(path: Path) -> list[SourceDocument]:
    """The documents in `path`; UnreadableFile says why there are none."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"unsupported type {path.suffix or '(no extension)'}: supported are {supported_list()}")
    try:
        return reader(path)
    except OSError as error:
        raise UnreadableFile(f"cannot be read: {error.strerror or error}") from None


def supported_list() -> str:
    return ", ".join(sorted(READERS))
