"""Retrieval engines side by side on the same passages: SQLite FTS5 (what spanqa uses), tantivy, bm25s.

Each engine indexes the passages' texts and answers the questions' words as a BM25 OR query
(the same stopwords removed for all, see spanqa.documents.store.query_terms). Reported: build
time, query p50/p95 and recall@k against the gold passages. tantivy and bm25s are not spanqa
dependencies: `pip install tantivy bm25s` to include them; a missing one is left out of the table.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spanqa.documents.store import FTS5_TOKENIZER, match_expression, query_terms

Search = Callable[[str, int], list[int]]  # question, k -> passage numbers, best first


def fts5(texts: Sequence[str], folder: Path) -> Search:
    connection = sqlite3.connect(folder / "fts5.sqlite3")
    connection.execute(f"CREATE VIRTUAL TABLE p USING fts5(text, tokenize = '{FTS5_TOKENIZER}')")
    with connection:
        connection.executemany("INSERT INTO p (rowid, text) VALUES (?, ?)", enumerate(texts))

    def search(question: str, k: int) -> list[int]:
        match = match_expression(question)
        if match is None:
            return []
        rows = connection.execute("SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?", (match, k))
        return [row[0] for row in rows]

    return search


def tantivy_engine(texts: Sequence[str], folder: Path) -> Search:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=False, tokenizer_name="en_stem")
    builder.add_integer_field("number", stored=True, indexed=False)
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer()
    for number, text in enumerate(texts):
        writer.add_document(tantivy.Document(text=text, number=number))
    writer.commit()
    index.reload()
    searcher = index.searcher()

    def search(question: str, k: int) -> list[int]:
        terms = query_terms(question)
        if not terms:
            return []
        query = index.parse_query(" ".join(terms), ["text"])
        return [searcher.doc(address)["number"][0] for _, address in searcher.search(query, k).hits]

    return search


def bm25s_engine(texts: Sequence[str], folder: Path) -> Search:
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(list(texts), stopwords="en", show_progress=False), show_progress=False)

    def search(question: str, k: int) -> list[int]:
        terms = query_terms(question)
        if not terms:
            return []
        tokens = bm25s.tokenize([" ".join(terms)], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        results, scores = retriever.retrieve(tokens, k=min(k, len(texts)), show_progress=False)
        return [int(r) for r, s in zip(results[0], scores[0], strict=True) if s > 0]

    return search


ENGINES: dict[str, Callable[[Sequence[str], Path], Search]] = {
    "sqlite-fts5": fts5,
    "tantivy": tantivy_engine,
    "bm25s": bm25s_engine,
}


def compare_engines(
    texts: Sequence[str], questions: Sequence[str], gold: Sequence[set[int]], recall_at: Sequence[int]
) -> list[dict[str, Any]]:
    """One row per installed engine: build seconds, query p50/p95 ms, recall@k (gold: passages that count)."""
    rows = []
    for name, make in ENGINES.items():
        with tempfile.TemporaryDirectory(prefix=f"spanqa-{name}-") as folder:
            began = time.perf_counter()
            try:
                search = make(texts, Path(folder))
            except ImportError:
                continue
            build_s = time.perf_counter() - began
            times, hits = [], dict.fromkeys(recall_at, 0)
            for question, relevant in zip(questions, gold, strict=True):
                started = time.perf_counter()
                found = search(question, max(recall_at))
                times.append(time.perf_counter() - started)
                for k in recall_at:
                    hits[k] += bool(relevant & set(found[:k]))
            ms = np.array(times) * 1000
            rows.append({
                "engine": name, "passages": len(texts), "build_s": build_s,
                "query_p50_ms": float(np.percentile(ms, 50)), "query_p95_ms": float(np.percentile(ms, 95)),
                **{f"recall@{k}": hits[k] / len(questions) for k in recall_at},
            })
    return rows
