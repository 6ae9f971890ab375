"""The baseline for bench/speed.py: transformers' QuestionAnsweringPipeline on the same questions.

Runs inside the baseline virtual environment that bench/speed.py builds (transformers 4.57.6, the
last line with the pipeline; torch 2.13.0 CPU), so it imports nothing from spanqa. Reads a JSON
list of {id, question, context}, tries each --batch-sizes on the first --tune-limit questions,
keeps the fastest, answers every question with it and writes a JSON report:
{questions_per_second, batch_size, tuning: {batch: q/s}, seconds, load_seconds, predictions: {id: text}}.

With --onnx FILE the pipeline runs Optimum's ORTModelForQuestionAnswering on the ONNX file FILE of
the model folder instead of the torch model (the peer; needs optimum-onnx and onnxruntime, which the
peer's venv has), and the report also names optimum's and onnxruntime's versions and the file.

    python bench/pipeline_baseline.py --model MODEL_DIR --questions q.json --out result.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time

from old_transformers import quiet_pipeline_factory


def answer_all(qa, questions: list[dict], batch_size: int, settings: dict) -> list[dict]:
    inputs = [{"question": q["question"], "context": q["context"]} for q in questions]
    answers = qa(inputs, batch_size=batch_size, **settings)
    if isinstance(answers, dict):  # one question gives a dict, not a list
        answers = [answers]
    return answers


def optimum_pipeline(pipeline, model: str, onnx_file: str, threads: int | None):
    """The QA pipeline over Optimum's ORTModelForQuestionAnswering on `model`/`onnx_file`, ONNX Runtime with
    `threads` intra-op threads (default: its own), and what it runs, for the report."""
    import onnxruntime
    from optimum.onnxruntime import ORTModelForQuestionAnswering
    from transformers import AutoTokenizer

    options = onnxruntime.SessionOptions()  # otherwise ONNX Runtime's defaults, as a user of Optimum gets them
    if threads is not None:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    ort_model = ORTModelForQuestionAnswering.from_pretrained(
        model, file_name=onnx_file, session_options=options, provider="CPUExecutionProvider"
    )
    qa = pipeline("question-answering", model=ort_model, tokenizer=AutoTokenizer.from_pretrained(model), device=-1)
    runs = {
        "optimum": importlib.metadata.version("optimum"),
        "optimum_onnx": importlib.metadata.version("optimum-onnx"),
        "onnxruntime": onnxruntime.__version__,
        "onnx_file": onnx_file,
        "ort_threads": ort_model.model.get_session_options().intra_op_num_threads,  # 0: ONNX Runtime's default
        # from the file's own inputs and outputs: the folder's config.json (dtype float16) has no say in it
        "dtype": str(ort_model.dtype),
    }
    return qa, runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="A model folder AutoModelForQuestionAnswering can load.")
    parser.add_argument("--questions", required=True, help="JSON list of {id, question, context}.")
    parser.add_argument("--out", required=True, help="Write the JSON report here.")
    parser.add_argument("--batch-sizes", default="1,8,16", help="Batch sizes to try (comma-separated).")
    parser.add_argument("--tune-limit", type=int, default=100, help="Questions used to pick the batch size.")
    parser.add_argument("--max-seq-len", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--max-question-len", type=int, default=64)
    parser.add_argument("--max-answer-len", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's).")
    parser.add_argument("--onnx", default=None, help="Run this ONNX file of --model with Optimum (the peer).")
    parser.add_argument(
        "--timed", type=int, default=None, help="Time the first N questions only; the rest are answered for F1."
    )
    args = parser.parse_args()

    pipeline = quiet_pipeline_factory(args.threads)
    import torch
    import transformers
    with open(args.questions, encoding="utf-8") as handle:
        questions = json.load(handle)
    settings = {
        "max_seq_len": args.max_seq_len,
        "doc_stride": args.doc_stride,
        "max_question_len": args.max_question_len,
        "max_answer_len": args.max_answer_len,
        "top_k": 1,
    }
    began = time.perf_counter()
    runs = {}
    if args.onnx:
        qa, runs = optimum_pipeline(pipeline, args.model, args.onnx, args.threads)
    else:
        # fp32, like every spanqa back-end it is compared with: a folder saved in fp16 (the default
        # model's config says dtype float16) would otherwise run fp16 matmuls, which are slow on a CPU.
        qa = pipeline(
            "question-answering", model=args.model, tokenizer=args.model, device=-1, torch_dtype=torch.float32
        )
    load_seconds = time.perf_counter() - began

    tune = questions[: args.tune_limit]
    answer_all(qa, tune[:4], 1, settings)  # warm-up
    tuning = {}
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        began = time.perf_counter()
        answer_all(qa, tune, batch_size, settings)
        tuning[batch_size] = len(tune) / (time.perf_counter() - began)
    best = max(tuning, key=tuning.get)

    timed = questions[: args.timed] if args.timed else questions
    began = time.perf_counter()
    answers = answer_all(qa, timed, best, settings)
    seconds = time.perf_counter() - began
    if len(timed) < len(questions):
        answers += answer_all(qa, questions[len(timed) :], best, settings)
    report = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "questions": len(timed),
        "scored_questions": len(questions),
        "batch_size": best,
        "tuning": {str(k): v for k, v in tuning.items()},
        "seconds": seconds,
        "questions_per_second": len(timed) / seconds,
        "load_seconds": load_seconds,
        "predictions": {q["id"]: a["answer"] for q, a in zip(questions, answers, strict=True)},
        **runs,
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
