"""Questions over documents, end to end: SQuAD v1.1 dev as an open corpus.

The collection: the 48 articles of SQuAD v1.1 dev, one UTF-8 .txt file per article (its title
on the first line, then its paragraphs separated by blank lines). `spanqa index` cuts them into
passages; every question is asked of the whole collection. In one run:

- retrieval recall@1/5/20: the gold paragraph overlaps one of the top k passages;
- end to end, spanqa (BM25 over the index, the reader over --passages passages in one softmax):
  EM/F1 with the official metric, questions/s and p50/p95 latency per question;
- the same questions through Haystack (haystack-ai: InMemoryDocumentStore with the same
  passages, its InMemoryBM25Retriever, and TransformersExtractiveReader from the
  transformers-haystack package with the same model weights, run by transformers in fp32;
  neither side may answer "no answer", as the default model is set up);
- an oracle: the reader over the gold article's passages only (retrieval taken out);
- scale: build time, disk size, peak memory and query latency of indexes of 10k and 100k
  passages, made by repeating the dev paragraphs with their sentences rotated (so copies are
  not byte-identical), written as one .jsonl file.

    python bench/docs_qa.py --questions 1000 --out reports/docs_qa.md

Writes the markdown report to --out and the numbers as JSON beside it, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from docs_engines import compare_engines
from speedkit import REPO
from speedkit.data import score
from speedkit.machine import machine

from spanqa.data import load_squad_json
from spanqa.data.squad import restrict_to_ids
from spanqa.fileio import write_json_atomic, write_text_atomic
from spanqa.model.folder import DEFAULT_MODEL_DIR

DEFAULT_DATA = REPO.parent / "shared/data/squad/dev-v1.1.json"
RECALL_AT = (1, 5, 20)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="default", help="spanqa model folder (default: the shipped one)")
    parser.add_argument("--questions", type=int, default=None, help="ask the first N questions (default: all)")
    parser.add_argument("--passages", type=int, default=5, help="passages the reader reads per question")
    parser.add_argument("--oracle-questions", type=int, default=300, help="questions for the gold-article oracle")
    parser.add_argument("--haystack-questions", type=int, default=None, help="questions for Haystack (default: same)")
    parser.add_argument("--scale", type=int, nargs="*", default=[10_000, 100_000], help="passage counts to time")
    parser.add_argument("--skip-haystack", action="store_true")
    parser.add_argument("--engines-scale", type=int, default=100_000, help="passages for the engine comparison")
    parser.add_argument("--out", type=Path, default=REPO / "reports/docs_qa.md")
    return parser.parse_args(argv)


# -- the corpus ---------------------------------------------------------------------------------------


def write_corpus(dataset: dict[str, Any], folder: Path) -> dict[str, tuple[str, int, int]]:
    """One .txt per article; returns {question id: (file path, gold paragraph start, end)}."""
    gold = {}
    for number, article in enumerate(dataset["data"]):
        name = re.sub(r"[^\w]+", "_", article["title"]).strip("_") or f"article{number}"
        path = (folder / f"{number:02d}_{name}.txt").resolve()
        text = article["title"].replace("_", " ")
        for paragraph in article["paragraphs"]:
            text += "\n\n"
            start = len(text)
            text += paragraph["context"]
            for qa in paragraph["qas"]:
                gold[qa["id"]] = (str(path), start, start + len(paragraph["context"]))
        path.write_text(text + "\n", encoding="utf-8")
    return gold


def questions_of(dataset: dict[str, Any], limit: int | None) -> list[tuple[str, str]]:
    found = [(qa["id"], qa["question"]) for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]]
    return found[:limit] if limit else found


def overlaps(passage, gold: tuple[str, int, int]) -> bool:
    path, start, end = gold
    return passage.document.path == path and passage.start < end and start < passage.end


def percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95))}


# -- spanqa ---------------------------------------------------------------------------------------------


def retrieval(index, questions, gold) -> dict[str, Any]:
    hits = dict.fromkeys(RECALL_AT, 0)
    times = []
    for question_id, question in questions:
        began = time.perf_counter()
        found = index.search(question, max(RECALL_AT))
        times.append(time.perf_counter() - began)
        for k in RECALL_AT:
            hits[k] += any(overlaps(p, gold[question_id]) for p in found[:k])
    return {**{f"recall@{k}": hits[k] / len(questions) for k in RECALL_AT}, **percentiles(times)}


def spanqa_end_to_end(index, reader, questions, dataset, passages: int, subset: int | None = None) -> dict[str, Any]:
    """EM/F1, questions/s and latency of `Index.ask`; with `subset`, the same for the first `subset` questions
    too (the ones Haystack answers, when it answers fewer)."""
    predictions, times = {}, []
    for question_id, question in questions:
        began = time.perf_counter()
        result = index.ask(question, reader, top_k=1, passages=passages)
        times.append(time.perf_counter() - began)
        predictions[question_id] = result.answers[0].text if result.answers else ""

    def scored(count: int) -> dict[str, Any]:
        chosen = dict(list(predictions.items())[:count])
        exact, f1 = score(restrict_to_ids(dataset, set(chosen)), chosen)
        return {"questions": count, "exact": exact, "f1": f1, "questions_per_s": count / sum(times[:count]),
                **percentiles(times[:count])}

    found = scored(len(questions))
    if subset and subset < len(questions):
        found["subset"] = scored(subset)
    return found


def oracle(index, reader, questions, dataset, gold) -> dict[str, Any]:
    """The reader over every passage of the gold article: what perfect article retrieval would give."""
    from spanqa.types import Query

    passages_of: dict[str, list[str]] = {}
    for document in index.documents():
        passages_of[document.path] = [p.text for p in index.passages(document.id)]
    predictions, times = {}, []
    for question_id, question in questions:
        contexts = tuple(passages_of[gold[question_id][0]])
        began = time.perf_counter()
        [prediction] = reader.predict_queries([Query(id=question_id, question=question, contexts=contexts)])
        times.append(time.perf_counter() - began)
        predictions[question_id] = prediction.best_text
    exact, f1 = score(restrict_to_ids(dataset, set(predictions)), predictions)
    return {"questions": len(questions), "exact": exact, "f1": f1, "questions_per_s": len(times) / sum(times)}


# -- Haystack -----------------------------------------------------------------------------------------


def haystack_end_to_end(index, model_folder: Path, questions, dataset, passages: int) -> dict[str, Any]:
    """The same passages in Haystack's in-memory store, its BM25 retriever and extractive reader."""
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    store = InMemoryDocumentStore()
    documents = []
    for document in index.documents():
        for passage in index.passages(document.id):
            documents.append(Document(content=passage.text, meta={"path": document.path}))
    store.write_documents(documents)
    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=passages))
    # fp32 as spanqa's torch back-end runs: the folder's config says float16 (its weights are stored in
    # fp16), which transformers would otherwise keep on the CPU, where fp16 is slow.
    import torch

    reader = TransformersExtractiveReader(
        model=str(model_folder), top_k=1, no_answer=False, model_kwargs={"dtype": torch.float32}
    )
    pipeline.add_component("reader", reader)
    pipeline.connect("retriever.documents", "reader.documents")
    pipeline.warm_up()
    predictions, times = {}, []
    for question_id, question in questions:
        began = time.perf_counter()
        output = pipeline.run({"retriever": {"query": question}, "reader": {"query": question}})
        times.append(time.perf_counter() - began)
        answers = output["reader"]["answers"]
        predictions[question_id] = (answers[0].data or "") if answers else ""
    exact, f1 = score(restrict_to_ids(dataset, set(predictions)), predictions)
    return {"questions": len(questions), "exact": exact, "f1": f1, "questions_per_s": len(times) / sum(times),
            **percentiles(times), "passages_in_store": len(documents)}


# -- scale ----------------------------------------------------------------------------------------------


SCALE_SCRIPT = """
import json, resource, sys, time
from pathlib import Path
import numpy as np
from spanqa.documents import Index
records, folder, questions = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
began = time.perf_counter()
index = Index.build([records], folder)
build_s = time.perf_counter() - began
times = []
for question in questions:
    t = time.perf_counter(); index.search(question, 5); times.append(time.perf_counter() - t)
size = sum(f.stat().st_size for f in folder.iterdir())
print(json.dumps({"passages": index.counts()["passages"], "build_s": build_s, "disk_mb": size / 2**20,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "query_p50_ms": float(np.percentile(times, 50) * 1000),
                  "query_p95_ms": float(np.percentile(times, 95) * 1000)}))
"""


def engine_comparison(index, dataset, questions, gold, scale_passages: int) -> dict[str, Any]:
    """SQLite FTS5 vs tantivy vs bm25s: on the corpus's passages, and on `scale_passages` rotated paragraphs."""
    texts, spans = [], []
    for document in index.documents():
        for passage in index.passages(document.id):
            texts.append(passage.text)
            spans.append(passage)
    relevant = [{n for n, p in enumerate(spans) if overlaps(p, gold[qid])} for qid, _ in questions]
    corpus_rows = compare_engines(texts, [q for _, q in questions], relevant, RECALL_AT)
    # At scale only build time and latency count: rotated copies of a paragraph have the same bag of words,
    # so BM25 ties them and recall would say nothing new.
    sample = [q for _, q in questions[:500]]
    scale_rows = compare_engines(
        rotated_paragraphs(dataset, scale_passages), sample, [set() for _ in sample], RECALL_AT
    ) if scale_passages else []
    for row in scale_rows:
        for k in RECALL_AT:
            row[f"recall@{k}"] = None
    return {"corpus": corpus_rows, "scale": scale_rows}


def rotated_paragraphs(dataset: dict[str, Any], count: int) -> list[str]:
    paragraphs = [p["context"] for a in dataset["data"] for p in a["paragraphs"]]
    sentences = [re.split(r"(?<=[.!?])\s+", paragraph) for paragraph in paragraphs]
    out = []
    for number in range(count):
        parts = sentences[number % len(sentences)]
        shift = (number // len(sentences)) % len(parts)
        out.append(" ".join(parts[shift:] + parts[:shift]))
    return out


def scale(dataset: dict[str, Any], counts: list[int], questions: list[str], workdir: Path) -> list[dict[str, Any]]:
    results = []
    for count in counts:
        records = workdir / f"scale-{count}.jsonl"
        with open(records, "w", encoding="utf-8") as handle:
            for number, text in enumerate(rotated_paragraphs(dataset, count)):
                handle.write(json.dumps({"id": number, "text": text}) + "\n")
        folder = workdir / f"scale-{count}.index"
        output = subprocess.run(
            [sys.executable, "-c", SCALE_SCRIPT, str(records), str(folder), json.dumps(questions)],
            capture_output=True, text=True, check=True, cwd=REPO,
        )
        results.append({"requested": count, **json.loads(output.stdout.strip().splitlines()[-1])})
    return results


# -- the report -----------------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    r, s, o = report["retrieval"], report["spanqa"], report.get("oracle")
    h = report.get("haystack")
    lines = [
        "# Questions over documents: SQuAD v1.1 dev as an open corpus",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Corpus: {report['corpus']['articles']} articles as .txt files, {report['corpus']['passages']:,} passages "
        f"(index built in {report['corpus']['build_s']:.1f} s); {s['questions']:,} questions asked of the whole "
        f"collection; the reader reads {report['passages']} passages per question. Model: {report['model']}.",
        "",
        "## Retrieval (BM25, SQLite FTS5)",
        "",
        f"All {r['questions']:,} questions.",
        "",
        "| recall@1 | recall@5 | recall@20 | p50 | p95 |",
        "|---|---|---|---|---|",
        f"| {r['recall@1']:.3f} | {r['recall@5']:.3f} | {r['recall@20']:.3f} | {r['p50_ms']:.1f} ms "
        f"| {r['p95_ms']:.1f} ms |",
        "",
        "## End to end (official SQuAD metric)",
        "",
        "| system | questions | EM | F1 | questions/s | p50 | p95 |",
        "|---|---|---|---|---|---|---|",
        f"| spanqa (index + reader) | {s['questions']:,} | {s['exact']:.2f} | {s['f1']:.2f} | "
        f"{s['questions_per_s']:.1f} | {s['p50_ms']:.0f} ms | {s['p95_ms']:.0f} ms |",
    ]
    if h:
        lines.append(
            f"| Haystack (BM25 + TransformersExtractiveReader, fp32) | {h['questions']:,} | {h['exact']:.2f} | "
            f"{h['f1']:.2f} | {h['questions_per_s']:.1f} | {h['p50_ms']:.0f} ms | {h['p95_ms']:.0f} ms |"
        )
    if o:
        lines.append(
            f"| oracle: reader over the gold article only | {o['questions']:,} | {o['exact']:.2f} | {o['f1']:.2f} "
            f"| {o['questions_per_s']:.1f} | | |"
        )
    same = s if h and h["questions"] == s["questions"] else s.get("subset")
    if h and same and same["questions"] == h["questions"]:
        lines += ["", f"On the same {h['questions']:,} questions, spanqa: EM {same['exact']:.2f} F1 {same['f1']:.2f}, "
                  f"{same['questions_per_s']:.1f} questions/s; spanqa / Haystack: "
                  f"F1 {same['f1'] - h['f1']:+.2f} points, {same['questions_per_s'] / h['questions_per_s']:.2f}x "
                  "the questions/s."]
    if report.get("scale"):
        lines += ["", "## Scale (passages from repeated dev paragraphs, sentences rotated per copy)", "",
                  "| passages | build | disk | peak memory | query p50 | query p95 |", "|---|---|---|---|---|---|"]
        for row in report["scale"]:
            lines.append(
                f"| {row['passages']:,} | {row['build_s']:.1f} s | {row['disk_mb']:.0f} MB | "
                f"{row['peak_rss_mb']:.0f} MB | {row['query_p50_ms']:.1f} ms | {row['query_p95_ms']:.1f} ms |"
            )
    if report.get("engines"):
        lines += ["", "## Retrieval engines on the same passages (BM25 OR query, same stopwords)", "",
                  "| engine | passages | build | recall@1 | recall@5 | recall@20 | query p50 | query p95 |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in report["engines"]["corpus"] + report["engines"]["scale"]:
            recalls = " | ".join("—" if row[f"recall@{k}"] is None else f"{row[f'recall@{k}']:.3f}" for k in RECALL_AT)
            lines.append(
                f"| {row['engine']} | {row['passages']:,} | {row['build_s']:.1f} s | {recalls} | "
                f"{row['query_p50_ms']:.1f} ms | {row['query_p95_ms']:.1f} ms |"
            )
        lines += ["", "The second block times the first 500 questions against the rotated paragraphs (no recall: "
                  "BM25 ties rotated copies)."]
    m = report["machine"]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, load average {m['load_average']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from spanqa import Reader
    from spanqa.documents import Index

    dataset = load_squad_json(args.data)
    questions = questions_of(dataset, args.questions)
    every_question = questions_of(dataset, None)  # retrieval is cheap: recall is measured on all of them
    reader = Reader.load(None if args.model == "default" else args.model)
    model_folder = DEFAULT_MODEL_DIR if args.model == "default" else Path(args.model)
    report: dict[str, Any] = {"command": "python bench/docs_qa.py " + " ".join(sys.argv[1:] if argv is None else argv),
                              "model": args.model, "passages": args.passages, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="spanqa-docs-bench-") as work:
        workdir = Path(work)
        (workdir / "corpus").mkdir()
        gold = write_corpus(dataset, workdir / "corpus")
        began = time.perf_counter()
        index = Index.build([workdir / "corpus"], workdir / "index")
        report["corpus"] = {"articles": len(dataset["data"]), "passages": index.counts()["passages"],
                            "build_s": time.perf_counter() - began}
        print(f"indexed {report['corpus']}", file=sys.stderr)
        report["retrieval"] = {"questions": len(every_question), **retrieval(index, every_question, gold)}
        print(f"retrieval {report['retrieval']}", file=sys.stderr)
        report["engines"] = engine_comparison(index, dataset, every_question, gold, args.engines_scale)
        print(f"engines {report['engines']}", file=sys.stderr)
        report["spanqa"] = spanqa_end_to_end(index, reader, questions, dataset, args.passages, args.haystack_questions)
        print(f"spanqa {report['spanqa']}", file=sys.stderr)
        if args.oracle_questions:
            report["oracle"] = oracle(index, reader, questions[: args.oracle_questions], dataset, gold)
            print(f"oracle {report['oracle']}", file=sys.stderr)
        if not args.skip_haystack:
            chosen = questions[: args.haystack_questions] if args.haystack_questions else questions
            report["haystack"] = haystack_end_to_end(index, model_folder, chosen, dataset, args.passages)
            print(f"haystack {report['haystack']}", file=sys.stderr)
        if args.scale:
            report["scale"] = scale(dataset, args.scale, [q for _, q in questions[:200]], workdir)
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json_atomic(args.out.with_suffix(".json"), report)
    write_text_atomic(args.out, markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
