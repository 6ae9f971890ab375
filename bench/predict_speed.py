"""Questions per second of `Reader.predict` against a plain one-question-at-a-time baseline.

The baseline is what the old transformers question-answering pipeline did, written out: the
same model folder loaded with transformers' AutoModelForQuestionAnswering, one question at a
time, the same windows (max_seq_len, doc_stride, questions cut to max_question_len), one forward
pass per window, and a Python double loop over the (start, end) candidates of each window scored
with per-window softmaxes (p_start * p_end), answers widened to whole words. Both run in the same
process on the same questions, one after the other; the report gives questions/s of each, the
ratio, and how often the two give the same answer.

    python bench/predict_speed.py --model MODEL_DIR --limit 300 --out reports/predict_speed

writes reports/predict_speed.md and reports/predict_speed.json. The baseline needs a linear
(transformers-compatible) head.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared/data/squad/dev-v1.1.json"


def baseline_answer(model, tokenizer, question: str, context: str, settings) -> str:
    """The best answer the plain way: one window per forward pass, per-window softmax, double loop."""
    import torch

    from spanqa.inference.features import truncate_questions

    (question,) = truncate_questions(tokenizer, [question], settings.max_question_len)
    encoded = tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=settings.max_seq_len,
        stride=settings.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    best_score, best_text = -1.0, ""
    for w in range(len(encoded["input_ids"])):
        inputs = {name: torch.tensor([encoded[name][w]]) for name in tokenizer.model_input_names if name in encoded}
        with torch.inference_mode():
            output = model(**inputs)
        sequence_ids = encoded.sequence_ids(w)
        word_ids = encoded.word_ids(w)
        in_context = [s == 1 for s in sequence_ids]
        start_logits = output.start_logits[0].numpy().astype(np.float64)
        end_logits = output.end_logits[0].numpy().astype(np.float64)
        start_logits[~np.array(in_context)] = -np.inf
        end_logits[~np.array(in_context)] = -np.inf
        start_probs = np.exp(start_logits - start_logits.max())
        start_probs /= start_probs.sum()
        end_probs = np.exp(end_logits - end_logits.max())
        end_probs /= end_probs.sum()
        length = len(sequence_ids)
        for i in range(length):
            if not in_context[i]:
                continue
            for j in range(i, min(i + settings.max_answer_len, length)):
                if not in_context[j]:
                    continue
                score = start_probs[i] * end_probs[j]
                if score > best_score:
                    best_score = score
                    first = encoded.word_to_chars(w, word_ids[i], sequence_index=1)
                    last = encoded.word_to_chars(w, word_ids[j], sequence_index=1)
                    best_text = context[first.start : last.end].strip()
    return best_text


def machine_info() -> dict[str, Any]:
    import torch
    import transformers

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD v1.1/v2.0 JSON file")
    parser.add_argument("--model", default=None, help="model folder (default: spanqa's default model)")
    parser.add_argument("--limit", type=int, default=300, help="questions to answer (the first N of --data)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass for Reader.predict")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--warmup", type=int, default=5, help="questions each method answers before timing")
    parser.add_argument("--out", type=Path, default=REPO / "reports/predict_speed", help="report path, no suffix")
    args = parser.parse_args()
    if args.limit < 1:
        parser.error("--limit must be at least 1")

    sys.path.insert(0, str(REPO))
    import torch
    from transformers import AutoModelForQuestionAnswering

    from spanqa.data import load_squad
    from spanqa.errors import SpanQAError
    from spanqa.evaluation.metrics import normalize_answer
    from spanqa.fileio import write_json_atomic, write_text_atomic
    from spanqa.inference.pipeline import encode_queries
    from spanqa.inference.reader import Reader
    from spanqa.model.folder import DEFAULT_MODEL_DIR
    from spanqa.types import Query

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        examples = load_squad(args.data)[: args.limit]
        reader = Reader.load(args.model, backend="torch", precision="fp32")
    except SpanQAError as error:
        parser.error(str(error))
    if reader.info.head != "linear":
        parser.error("the baseline runs transformers' AutoModelForQuestionAnswering: pass a linear-head model")
    model_path = args.model or str(DEFAULT_MODEL_DIR)
    # fp32 like the reader: transformers 5 would load a folder saved in fp16 (the default model) as
    # fp16, whose matmuls are slow on a CPU and would flatter spanqa.
    baseline_model = AutoModelForQuestionAnswering.from_pretrained(model_path, dtype=torch.float32).eval()
    tokenizer, settings = reader.tokenizer, reader.settings

    warmup = examples[: args.warmup]
    reader.predict(warmup, batch_size=args.batch_size)
    for example in warmup:
        baseline_answer(baseline_model, tokenizer, example.question, example.context, settings)

    start = time.perf_counter()
    predictions = reader.predict(examples, batch_size=args.batch_size)
    spanqa_s = time.perf_counter() - start
    start = time.perf_counter()
    baseline = [baseline_answer(baseline_model, tokenizer, e.question, e.context, settings) for e in examples]
    baseline_s = time.perf_counter() - start

    spanqa_texts = [p.best_text for p in predictions]
    same = sum(a == b for a, b in zip(spanqa_texts, baseline, strict=True))
    same_normalized = sum(
        normalize_answer(a) == normalize_answer(b) for a, b in zip(spanqa_texts, baseline, strict=True)
    )
    n = len(examples)
    queries = [Query.from_example(e) for e in examples]
    windows = len(encode_queries(tokenizer, queries, settings).windows)
    result = {
        "data": str(args.data),
        "model": model_path,
        "questions": n,
        "windows": windows,
        "batch_size": args.batch_size,
        "settings": settings.to_dict(),
        "spanqa": {"seconds": round(spanqa_s, 3), "questions_per_s": round(n / spanqa_s, 2)},
        "baseline": {"seconds": round(baseline_s, 3), "questions_per_s": round(n / baseline_s, 2)},
        "speedup": round(baseline_s / spanqa_s, 2),
        "agreement": {"same_text": round(same / n, 4), "same_after_squad_normalisation": round(same_normalized / n, 4)},
        "machine": machine_info(),
    }
    print(result, flush=True)

    out = args.out.with_suffix("") if args.out.suffix in (".md", ".json") else args.out
    write_json_atomic(out.with_suffix(".json"), result)
    machine = result["machine"]
    lines = [
        "# Prediction speed: Reader.predict against a one-question-at-a-time baseline",
        "",
        f"`python bench/predict_speed.py --data {args.data.name} --limit {args.limit} --batch-size {args.batch_size}`"
        f" with model `{Path(model_path).name}`: {n} questions, {windows} windows "
        f"(max_seq_len {settings.max_seq_len}, doc_stride {settings.doc_stride}).",
        "",
        "| method | seconds | questions/s |",
        "|---|---|---|",
        f"| spanqa `Reader.predict` (length-sorted batches of {args.batch_size} windows, vectorised decoding) "
        f"| {result['spanqa']['seconds']} | {result['spanqa']['questions_per_s']} |",
        "| baseline (AutoModelForQuestionAnswering, one window per forward, Python double-loop decoding) "
        f"| {result['baseline']['seconds']} | {result['baseline']['questions_per_s']} |",
        "",
        f"Speed-up: **{result['speedup']}x**. Same answer text: {result['agreement']['same_text']:.1%} "
        f"({result['agreement']['same_after_squad_normalisation']:.1%} after SQuAD normalisation); the "
        "baseline scores spans with per-window softmaxes, spanqa with one softmax over all windows and "
        "merges repeated answers, so the two may disagree where windows compete.",
        "",
        f"Machine: {machine['processor']}, {machine['cpu_count']} CPUs ({machine['cpus_available']} available), "
        f"torch {machine['torch']} with {machine['torch_threads']} threads, transformers "
        f"{machine['transformers']}, Python {machine['python']}; load average at the end "
        f"{machine['load_average']}. Both methods ran in the same process, one after the other.",
    ]
    write_text_atomic(out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
