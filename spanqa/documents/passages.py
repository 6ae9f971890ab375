"""Cut a page into passages: what the search engine ranks and the reader reads.

A passage ends at a sentence or line end and stays within one page, so every answer cites
exactly one page. Its size is a trade-off: the reader reads a few passages per question, so
they should fit its window (about 300 context tokens of a 384-token window, roughly 1,200
characters of English), while shorter passages let BM25 rank the one that holds the answer
above the rest of its article. `MAX_PASSAGE_CHARS` sits between the two; a single sentence
longer than that is cut at a space.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_PASSAGE_CHARS = 1000
# A passage this full ends at the next paragraph break rather than running into the next paragraph.
PARAGRAPH_END_CHARS = 400

# A sentence ends after . ! ? (and closing quotes/brackets) followed by space; a line ends at a newline.
SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+|\n\s*")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class PassageSpan:
    """Characters [start, end) of a page."""

    start: int
    end: int


def _pieces(text: str) -> Iterator[tuple[int, int, bool]]:
    """Sentence-or-line pieces as (start, end, paragraph_ends_here); trailing whitespace stays in the piece."""
    start = 0
    for match in SENTENCE_END.finditer(text):
        end = match.end()
        yield start, end, bool(_PARAGRAPH_BREAK.search(match.group()))
        start = end
    if start < len(text):
        yield start, len(text), True


def _cut_long(start: int, end: int, text: str, limit: int) -> Iterator[tuple[int, int]]:
    """A piece longer than `limit`, cut at the last space before each limit (or hard, if it has none)."""
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit)
        cut = start + limit if cut == -1 else cut + 1
        yield start, cut
        start = cut
    yield start, end


def split_passages(text: str, max_chars: int = MAX_PASSAGE_CHARS) -> list[PassageSpan]:
    """Passages covering the non-blank text of one page, each at most `max_chars` long (spaces trimmed)."""
    spans: list[PassageSpan] = []
    current_start: int | None = None
    current_end = 0

    def close() -> None:
        nonlocal current_start
        if current_start is not None:
            start, end = _trim(text, current_start, current_end)
            if end > start:
                spans.append(PassageSpan(start, end))
        current_start = None

    for piece_start, piece_end, paragraph_ends in _pieces(text):
        for start, end in _cut_long(piece_start, piece_end, text, max_chars):
            if current_start is not None and end - current_start > max_chars:
                close()
            if current_start is None:
                current_start = start
            current_end = end
        if paragraph_ends and current_start is not None and current_end - current_start >= PARAGRAPH_END_CHARS:
            close()
    close()
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
