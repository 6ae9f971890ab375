"""The baseline for bench/classify_speed.py: transformers' text-classification pipeline on the same texts.

Runs inside the baseline virtual environment (transformers 4.57.6, torch 2.13.0 CPU; see
bench/speedkit/baseline.py), so it imports nothing from spanqa. Reads a JSON list of texts, each a
string or a [text, text_pair] pair, times every --batch-sizes on all of them (after one warm-up
pass), keeps the fastest, and writes a JSON report:
{texts_per_second, batch_size, tuning: {batch: texts/s}, load_seconds, labels: [best label per text]}.

    python bench/classify_pipeline_baseline.py --model MODEL_DIR --texts texts.json --out result.json
"""

from __future__ import annotations

import argparse
import json
import time

from old_transformers import quiet_pipeline_factory


def classify_all(classifier, texts: list, batch_size: int, max_length: int) -> list[str]:
    # A pair goes in as {"text": ..., "text_pair": ...}, the pipeline's own form for two texts.
    inputs = [text if isinstance(text, str) else {"text": text[0], "text_pair": text[1]} for text in texts]
    results = classifier(inputs, batch_size=batch_size, truncation=True, max_length=max_length)
    return [result["label"] if isinstance(result, dict) else result[0]["label"] for result in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="A folder AutoModelForSequenceClassification can load.")
    parser.add_argument("--texts", required=True, help="JSON list of texts or [text, text_pair] pairs.")
    parser.add_argument("--out", required=True, help="Write the JSON report here.")
    parser.add_argument("--batch-sizes", default="1,8,16,32", help="Batch sizes to try (comma-separated).")
    parser.add_argument("--max-length", type=int, default=512, help="Tokens per text (longer ones are cut).")
    parser.add_argument("--runs", type=int, default=1, help="Timed passes per batch size (the best counts).")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's).")
    args = parser.parse_args()

    pipeline = quiet_pipeline_factory(args.threads)
    import torch
    import transformers
    with open(args.texts, encoding="utf-8") as handle:
        texts = json.load(handle)
    began = time.perf_counter()
    classifier = pipeline("text-classification", model=args.model, tokenizer=args.model, device=-1)
    load_seconds = time.perf_counter() - began
    classify_all(classifier, texts[:8], 8, args.max_length)  # warm-up
    tuning: dict[str, float] = {}
    labels_by_batch: dict[str, list[str]] = {}
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        best = float("inf")
        for _ in range(args.runs):
            began = time.perf_counter()
            labels_by_batch[str(batch_size)] = classify_all(classifier, texts, batch_size, args.max_length)
            best = min(best, time.perf_counter() - began)
        tuning[str(batch_size)] = len(texts) / best
    best_batch = max(tuning, key=tuning.__getitem__)
    report = {
        "texts_per_second": tuning[best_batch],
        "batch_size": int(best_batch),
        "tuning": tuning,
        "load_seconds": load_seconds,
        "labels": labels_by_batch[best_batch],
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
