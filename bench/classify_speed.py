"""Speed and accuracy of spanqa's Classifier against transformers' text-classification pipeline.

For one classifier and one labelled data file, in one run:

- texts/s of `Classifier.classify` with the default back-end of --model (`backend="auto"`: a folder
  made by `spanqa export MODEL --onnx OUT --int8` runs its int8 ONNX model), the best of
  --batch-sizes, after one warm-up pass;
- texts/s of transformers 4.57.6's `pipeline("text-classification")` on --pipeline-model (default:
  --model; it needs torch weights, so give the training folder when --model is an ONNX export) at its
  best batch size of --baseline-batch-sizes (1, 8, 16, 32), in its own virtual environment under
  ~/.cache/spanqa-bench (bench/speedkit/baseline.py builds it on first use);
- the accuracy of both against the data's labels, and how often the two agree.

Both read every text at most --max-seq-len tokens (truncated), with --threads intra-op threads.
Writes a markdown report to --out and the same numbers as JSON beside it (.json), atomically.

    python bench/classify_speed.py --model MODEL-int8 --pipeline-model MODEL --data DIR/eval.csv \\
        --text-column question --text-pair-column paragraph --label-column label --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from speedkit import REPO
from speedkit.baseline import BASELINE_VENV, baseline_python, run_baseline_script
from speedkit.machine import machine

DEFAULT_OUT = REPO / "reports" / "classify_speed.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="The classifier folder spanqa runs (backend auto).")
    parser.add_argument(
        "--pipeline-model", type=Path, default=None, help="The torch folder the pipeline runs (default: --model)."
    )
    parser.add_argument("--data", required=True, type=Path, help="Labelled .csv or .jsonl file.")
    parser.add_argument("--text-column", default="question")
    parser.add_argument("--text-pair-column", default="paragraph", help="'' for single texts.")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--limit", type=int, default=None, help="Use the first N rows (default: all).")
    parser.add_argument(
        "--repeat", type=int, default=1, help="Time over the texts repeated this many times (accuracy: once)."
    )
    parser.add_argument("--max-seq-len", type=int, default=256, help="Tokens per text, for both.")
    parser.add_argument("--batch-sizes", default="8,32", help="spanqa batch sizes to try.")
    parser.add_argument("--baseline-batch-sizes", default="1,8,16,32", help="Pipeline batch sizes to try.")
    parser.add_argument("--runs", type=int, default=2, help="Timed passes per batch size; the fastest counts.")
    parser.add_argument("--threads", type=int, default=None, help="Intra-op threads for both (default: theirs).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report path (JSON beside it).")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the transformers pipeline.")
    parser.add_argument("--baseline-venv", default=str(BASELINE_VENV), help="Where the pipeline's venv lives.")
    return parser.parse_args(argv)


def read_data(args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    from spanqa.classify.data import read_labelled

    rows = read_labelled(args.data, args.text_column, args.label_column, args.text_pair_column or None)
    rows = rows[: args.limit] if args.limit is not None else rows
    if not rows:
        raise SystemExit(f"{args.data} holds no rows to classify")
    return [row.item for row in rows], [row.label for row in rows]


def time_spanqa(args: argparse.Namespace, texts: list[Any]) -> dict[str, Any]:
    """Load (timed), warm up, then the fastest of --runs passes per batch size; best labels per text."""
    from spanqa.classify import Classifier

    began = time.perf_counter()
    classifier = Classifier.load(args.model, threads=args.threads, max_seq_len=args.max_seq_len)
    load_seconds = time.perf_counter() - began
    timed = texts * args.repeat
    classifier.classify(texts[:8])  # warm-up: ONNX Runtime plans its kernels on the first runs
    tuning: dict[str, float] = {}
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        best = float("inf")
        for _ in range(args.runs):
            began = time.perf_counter()
            classifier.classify(timed, top_k=1, batch_size=batch_size)
            best = min(best, time.perf_counter() - began)
        tuning[str(batch_size)] = len(timed) / best
    best_batch = max(tuning, key=tuning.__getitem__)
    labels = [labels[0].label for labels in classifier.classify(texts, top_k=1, batch_size=int(best_batch))]
    return {
        "texts_per_second": tuning[best_batch],
        "batch_size": int(best_batch),
        "tuning": tuning,
        "load_seconds": load_seconds,
        "runtime": type(classifier.runtime).__name__,
        "precision": getattr(classifier.runtime, "precision", None),
        "batch_independent": bool(classifier.runtime.batch_independent),
        "labels": labels,
    }


def time_pipeline(args: argparse.Namespace, texts: list[Any], work: Path) -> dict[str, Any]:
    """The pipeline's report, from bench/classify_pipeline_baseline.py run in the transformers 4.57.6 venv."""
    python = baseline_python(Path(args.baseline_venv).expanduser())
    texts_path, out_path = work / "texts.json", work / "baseline.json"
    texts_path.write_text(json.dumps([list(t) if isinstance(t, tuple) else t for t in texts * args.repeat]))
    model = (args.pipeline_model or args.model).expanduser().resolve()
    arguments = [
        "--model", str(model), "--texts", str(texts_path), "--batch-sizes", args.baseline_batch_sizes,
        "--max-length", str(args.max_seq_len), "--runs", str(args.runs),
    ]  # fmt: skip
    report = run_baseline_script(python, "classify_pipeline_baseline.py", arguments, args.threads, out_path)
    report["labels"] = report["labels"][: len(texts)]  # the first pass over the texts; the rest repeat them
    report["model"] = str(model)
    return report


def accuracy(predicted: list[str], gold: list[str]) -> float:
    return 100.0 * sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


def markdown(report: dict[str, Any]) -> str:
    spanqa, baseline, info = report["spanqa"], report["baseline"], report["machine"]
    lines = [
        "# Text classification speed: spanqa vs transformers' text-classification pipeline",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Model: `{report['model']}` (spanqa, {spanqa['runtime']} {spanqa['precision']})"
        + (f", pipeline on `{baseline['model']}`" if baseline else ""),
        f"Data: `{report['data']}`, {report['texts']} texts (timed over {report['timed_texts']}: "
        f"×{report['repeat']}), at most {report['max_seq_len']} tokens each; threads {report['threads']}.",
        "",
        "| | texts/s | × pipeline | batch size | accuracy | load |",
        "|---|---|---|---|---|---|",
    ]
    if baseline:
        lines.append(
            f"| pipeline (transformers {baseline['transformers']}, torch fp32) | {baseline['texts_per_second']:.1f} "
            f"| 1.00 | {baseline['batch_size']} | {baseline['accuracy']:.2f} | {baseline['load_seconds']:.2f} s |"
        )
    ratio = report["ratios"].get("texts_per_second")
    lines.append(
        f"| spanqa Classifier (default back-end: {spanqa['runtime']} {spanqa['precision']}) "
        f"| {spanqa['texts_per_second']:.1f} | {'—' if ratio is None else f'{ratio:.2f}'} | {spanqa['batch_size']} "
        f"| {spanqa['accuracy']:.2f} | {spanqa['load_seconds']:.2f} s |"
    )
    lines += ["", "Batch-size tuning (texts/s):", ""]
    lines.append("- spanqa: " + ", ".join(f"{b}: {v:.1f}" for b, v in spanqa["tuning"].items()))
    if baseline:
        lines.append("- pipeline: " + ", ".join(f"{b}: {v:.1f}" for b, v in baseline["tuning"].items()))
        lines.append(f"- the two give the same label for {report['agreement']:.1f}% of texts")
    if not spanqa["batch_independent"]:
        lines.append(
            "- spanqa's int8 runtime runs one text at a time (dynamic int8 would let a batch change a text's "
            "labels), so its batch size does not change its speed"
        )
    lines += [
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, onnxruntime {info['onnxruntime']}, "
        f"AVX-512 {info['avx512f']}, VNNI {info['avx512_vnni']}; load average {_loads(report['load_average_start'])} "
        f"at the start, {_loads(report['load_average_end'])} at the end (other work on the machine slows both).",
        "",
    ]
    return "\n".join(lines)


def _loads(values: Any) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from spanqa.fileio import write_json_atomic, write_text_atomic

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    load_average_start = os.getloadavg()
    texts, gold = read_data(args)
    info = machine()
    print(f"spanqa Classifier on {len(texts) * args.repeat} texts ...", flush=True)
    spanqa = time_spanqa(args, texts)
    spanqa["accuracy"] = accuracy(spanqa["labels"], gold)
    print(f"  {spanqa['texts_per_second']:.1f} texts/s (batch {spanqa['batch_size']}), "
          f"accuracy {spanqa['accuracy']:.2f}")  # fmt: skip
    baseline = None
    if not args.no_baseline:
        print("pipeline baseline ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="spanqa-classify-bench-") as work:
            baseline = time_pipeline(args, texts, Path(work))
        baseline["accuracy"] = accuracy(baseline["labels"], gold)
        print(f"  {baseline['texts_per_second']:.1f} texts/s (batch {baseline['batch_size']}), "
              f"accuracy {baseline['accuracy']:.2f}")  # fmt: skip
    report = {
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "model": str(args.model),
        "data": str(args.data),
        "texts": len(texts),
        "repeat": args.repeat,
        "timed_texts": len(texts) * args.repeat,
        "max_seq_len": args.max_seq_len,
        "threads": args.threads,
        "machine": info,
        "load_average_start": load_average_start,
        "load_average_end": os.getloadavg(),
        "spanqa": spanqa,
        "baseline": baseline,
        "gold": gold,
        "ratios": {},
    }
    if baseline:
        report["ratios"] = {
            "texts_per_second": spanqa["texts_per_second"] / baseline["texts_per_second"],
            "accuracy_difference": spanqa["accuracy"] - baseline["accuracy"],
        }
        report["agreement"] = accuracy(spanqa["labels"], baseline["labels"])
    out = args.out
    write_json_atomic(out.with_suffix(".json"), report)
    write_text_atomic(out, markdown(report))
    print(f"report written to {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
