"""How long official-equivalent SQuAD scoring takes on 100,000 synthetic predictions.

The questions are copies of SQuAD dev (../shared/data/squad/dev-v1.1.json and dev-v2.0.json when
present, else the small files in tests/fixtures) with fresh ids, until there are --questions of
them. The predictions mix every kind of answer (exact, partial, padded, empty, wrong). Times
`squad_metrics` (v1.1 rules; v2.0 rules with no-answer probabilities and the best-threshold
search) and the JSON report on top of it, and writes a markdown table (or JSON when --out ends
in .json).

    python bench/metrics_speed.py --out reports/metrics_speed.md
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SOURCES = {
    "1.1": [REPO.parent / "shared/data/squad/dev-v1.1.json", REPO / "tests/fixtures/squad-v1.1-dev-small.json"],
    "2.0": [REPO.parent / "shared/data/squad/dev-v2.0.json", REPO / "tests/fixtures/squad-v2.0-dev-small.json"],
}


def load_source(version: str) -> tuple[dict[str, Any], Path]:
    from spanqa.data import load_squad_json

    for path in SOURCES[version]:
        if path.exists():
            return load_squad_json(path), path
    raise SystemExit(f"no SQuAD v{version} file found in {[str(p) for p in SOURCES[version]]}")


def synthetic(source: dict[str, Any], questions: int) -> tuple[dict[str, Any], dict[str, str], dict[str, float]]:
    """(dataset with `questions` questions, predictions, no-answer probabilities)."""
    articles: list[dict[str, Any]] = []
    predictions: dict[str, str] = {}
    na_probs: dict[str, float] = {}
    copy_index = 0
    while len(predictions) < questions:
        for article in source["data"]:
            article = copy.deepcopy(article)
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                kept = []
                for qa in paragraph["qas"]:
                    if len(predictions) >= questions:
                        break
                    qa["id"] = f"{qa['id']}-{copy_index}"
                    n = len(predictions)
                    gold = qa["answers"][0]["text"] if qa["answers"] else ""
                    words = gold.split()
                    variants = [
                        gold,
                        gold,
                        " ".join(words[1:]),
                        f"the {gold} and more",
                        "",
                        context[n % 97 : n % 97 + 25],
                        gold.upper() + "!",
                    ]
                    predictions[qa["id"]] = variants[n % len(variants)]
                    na_probs[qa["id"]] = round(((n * 7919) % 1000) / 1000, 3)
                    kept.append(qa)
                paragraph["qas"] = kept
            articles.append(article)
            if len(predictions) >= questions:
                break
        copy_index += 1
    return {"version": source.get("version", ""), "data": articles}, predictions, na_probs


def timed(function: Any, repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "reports/metrics_speed.md", help="markdown or .json report")
    parser.add_argument("--questions", type=int, default=100_000, help="synthetic questions to score")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case (the median is reported)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from spanqa.evaluation.metrics import evaluate_squad, squad_metrics
    from spanqa.evaluation.report import build_report
    from spanqa.fileio import write_json_atomic, write_text_atomic

    rows = []
    for version in ("1.1", "2.0"):
        source, source_path = load_source(version)
        dataset, predictions, na_probs = synthetic(source, args.questions)
        probs = na_probs if version == "2.0" else None
        cases = {
            "squad_metrics": lambda d=dataset, p=predictions, n=probs: squad_metrics(d, p, n),
            "squad_metrics + JSON report": lambda d=dataset, p=predictions, n=probs: build_report(
                evaluate_squad(d, p, n)
            ),
        }
        for name, function in cases.items():
            times, result = timed(function, args.repeats)
            metrics = result if name == "squad_metrics" else {k: result[k] for k in ("exact", "f1", "total")}
            median = statistics.median(times)
            rows.append(
                {
                    "rules": f"v{version}" + (" + na_probs" if probs is not None else ""),
                    "case": name,
                    "questions": metrics["total"],
                    "median_s": round(median, 3),
                    "min_s": round(min(times), 3),
                    "questions_per_s": round(metrics["total"] / median),
                    "exact": round(metrics["exact"], 3),
                    "f1": round(metrics["f1"], 3),
                    "source": str(source_path.relative_to(REPO.parent)),
                }
            )
            print(rows[-1], flush=True)

    info = {"python": platform.python_version(), "machine": platform.machine(), "repeats": args.repeats}
    if args.out.suffix == ".json":
        write_json_atomic(args.out, {"environment": info, "results": rows})
        return
    lines = [
        "# SQuAD metric speed",
        "",
        f"`python bench/metrics_speed.py --questions {args.questions}` on Python {info['python']} "
        f"({info['machine']}), median of {args.repeats} runs. Synthetic predictions built from SQuAD dev.",
        "",
        "| rules | case | questions | median s | min s | questions/s | EM | F1 | source |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['rules']} | {r['case']} | {r['questions']:,} | {r['median_s']} | {r['min_s']} | "
        f"{r['questions_per_s']:,} | {r['exact']} | {r['f1']} | {r['source']} |"
        for r in rows
    ]
    write_text_atomic(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
