"""Speed and accuracy of every inference backend, against transformers' QuestionAnsweringPipeline.

For the model folder --model (a torch spanqa folder; the ONNX folders are exported here) and SQuAD
v1.1 dev (--limit questions timed, --accuracy-limit scored: all by default), in one run:

- questions/s of `Reader.predict` for torch fp32, torch bf16, onnx fp32 and onnx int8 (the batch
  size tuned per backend on the first --tune-limit questions), and EM/F1 of their answers;
- the same for QuestionAnsweringPipeline (transformers 4.57.6, in its own virtual environment
  under ~/.cache/spanqa-bench, built on first use: the pipeline left transformers in 5.3), with
  its best batch size of 1, 8, 16;
- the same for a peer (--peer, default optimum-int8): Optimum's ORTModelForQuestionAnswering on the
  int8 ONNX file onnx-int8 runs, decoded by that pipeline, in a venv of its own (--no-peer skips it);
- single-question latency p50/p99 on a ~150-token window (tokenising and decoding included);
- start-up time of `python -m spanqa ask` (import + model load + one answer), as a subprocess;
- the measured matmul peaks of this machine (fp32/bf16 torch, int8 ONNX Runtime MatMulInteger and
  torch._int_mm) and the share of them the model's FLOPs reach;
- the bound: questions/s and latency at 100% of each peak, and the share of it each target needs;
- where a target is missed, where the time goes: tokenising, forward, decoding.

Writes a markdown report to --out and the same numbers as JSON beside it (.json), atomically.

    python bench/speed.py --model MODEL_DIR --limit 600 --out reports/speed.md

This file reads the arguments and wires the parts; each part is a module of bench/speedkit/ (its
__init__ lists them).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from speedkit import REPO
from speedkit.backends import BACKENDS, BackendResult, run_backend
from speedkit.baseline import BASELINE_VENV, run_baseline
from speedkit.bound import bound
from speedkit.data import select_questions
from speedkit.exports import ships_onnx
from speedkit.latency import latency_example
from speedkit.machine import machine
from speedkit.peaks import matmul_peaks
from speedkit.peer import PEER_VENV, PEERS, run_peer
from speedkit.report import TARGETS, fmt, targets_check, write_report

DEFAULT_DATA = REPO.parent / "shared/data/squad/dev-v1.1.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="A torch spanqa model folder.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD v1.1 JSON (default: dev-v1.1).")
    parser.add_argument("--limit", type=int, default=None, help="Time the first N questions (default: all).")
    parser.add_argument(
        "--accuracy-limit", type=int, default=None, help="Score EM/F1 on the first N questions (default: all)."
    )
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "speed.md", help="Markdown report path.")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"Comma-separated, of {', '.join(BACKENDS)}.")
    parser.add_argument("--batch-sizes", default="8,32", help="Reader batch sizes to try per backend.")
    parser.add_argument("--baseline-batch-sizes", default="1,8,16", help="Pipeline batch sizes to try.")
    parser.add_argument("--tune-limit", type=int, default=100, help="Questions used to pick batch sizes.")
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--startup-runs", type=int, default=3, help="0 skips the start-up measurement.")
    parser.add_argument(
        "--threads", type=int, default=None, help="Intra-op threads for torch and ONNX Runtime (default: theirs)."
    )
    parser.add_argument("--peak-budget", type=float, default=2.0, help="Seconds per matmul peak measurement.")
    parser.add_argument("--export-dir", type=Path, default=None, help="Keep (and reuse) the ONNX exports here.")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the transformers pipeline.")
    parser.add_argument("--baseline-venv", default=str(BASELINE_VENV), help="Where the pipeline's venv lives.")
    parser.add_argument(
        "--peer", default="optimum-int8", choices=sorted(PEERS), help="The peer run after the pipeline baseline."
    )
    parser.add_argument("--no-peer", action="store_true", help="Skip the peer (it runs when the baseline runs).")
    parser.add_argument("--peer-venv", default=str(PEER_VENV), help="Where the peer's venv lives.")
    parser.add_argument(
        "--force-bf16", action="store_true", help="Run torch-bf16 even on a CPU without native bf16 (slow)."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from spanqa.model.folder import read_model_info
    from spanqa.model.torch_io import load_model

    model = args.model.expanduser().resolve()
    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"unknown backend(s) {', '.join(sorted(unknown))}: choose from {', '.join(BACKENDS)}")
    load_average_start = os.getloadavg()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    info = machine()
    examples, dataset = select_questions(args.data, args.accuracy_limit)  # scored; the first --limit are timed
    args.limit = min(args.limit or len(examples), len(examples))
    args.tune_limit = min(args.tune_limit, args.limit)
    model_info = read_model_info(model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    # the whole model, not just its tokenizer: no back-end's load_s then pays for importing transformers' models
    tokenizer = load_model(model).tokenizer
    lat_case = latency_example(examples, tokenizer)
    notes: list[str] = []
    print(f"measuring matmul peaks (≤ {args.peak_budget:g} s each) ...", flush=True)
    peaks = matmul_peaks(args.peak_budget)
    if "int8_torch" in peaks and peaks["int8_torch"]["gflops"] < peaks["int8"]["gflops"] / 10:
        notes.append("torch._int_mm has no fast CPU kernel here; the int8 peak is ONNX Runtime's MatMulInteger.")
    shipped = [precision for precision in ("fp32", "int8") if ships_onnx(model, precision)]
    if shipped:
        notes.append(
            f"onnx-{'/'.join(shipped)} ran the model folder's own ONNX file, as its users do; the other "
            "ONNX rows ran a fresh export of its weights."
        )
    with tempfile.TemporaryDirectory(prefix="spanqa-bench-") as work_name:
        work = Path(work_name)
        export_dir = args.export_dir.expanduser() if args.export_dir else work / "exports"
        results = []
        for name in names:
            if name == "torch-bf16" and not info["native_bf16"] and not args.force_bf16:
                reason = (
                    f"no native bf16 on this CPU (bf16 matmul {peaks['bf16']['gflops']:.1f} vs fp32 "
                    f"{peaks['fp32']['gflops']:.1f} GFLOP/s); --force-bf16 runs it"
                )
                results.append(BackendResult(name=name, backend="torch", precision="bf16", skipped=reason))
                continue
            print(f"{name} ...", flush=True)
            result = run_backend(name, model, export_dir, examples, dataset, args, peaks, config, lat_case)
            print(
                f"  {result.questions_per_second:.1f} q/s (batch {result.batch_size}), F1 {result.f1:.2f}, "
                f"p50 {result.latency_ms['p50']:.1f} ms, start-up {fmt(result.startup_s, 2)} s",
                flush=True,
            )
            results.append(result)
        baseline = peer = None
        if not args.no_baseline:
            if model_info.head != "linear":
                notes.append("no pipeline baseline: the pipeline loads linear-head models only")
            else:
                print("pipeline baseline ...", flush=True)
                baseline = run_baseline(model, examples, dataset, model_info.settings, args, work)
                print(
                    f"  {baseline['questions_per_second']:.1f} q/s (batch {baseline['batch_size']}), "
                    f"F1 {baseline['f1']:.2f}",
                    flush=True,
                )
                if not args.no_peer:
                    print(f"peer {args.peer} ...", flush=True)
                    peer = run_peer(args.peer, model, export_dir, examples, dataset, model_info.settings, args, work)
                    print(f"  {peer['questions_per_second']:.1f} q/s (batch {peer['batch_size']}), F1 {peer['f1']:.2f}")
                    notes.append(
                        f"{args.peer}: Optimum's ORTModelForQuestionAnswering (optimum-onnx {peer['optimum_onnx']}, "
                        f"onnxruntime {peer['onnxruntime']}, intra-op threads {peer['ort_threads'] or 'its default'}) "
                        f"on `{peer['onnx_file']}`, answered by the pipeline of transformers {peer['transformers']} "
                        "with its settings and batch-size choice: what a user after speed without spanqa would run."
                    )
    measured = [r for r in results if not r.skipped]
    report = {
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "model": str(model),
        "head": model_info.head,
        "data": str(args.data),
        "questions": args.limit,
        "scored_questions": len(examples),
        "windows": measured[0].windows if measured else 0,
        "latency_tokens": lat_case[2],
        "threads": args.threads,
        "machine": info,
        "load_average_start": load_average_start,
        "load_average_end": os.getloadavg(),
        "peaks": peaks,
        "backends": [asdict(r) for r in results],
        "baseline": baseline,
        "peer": peer,
        "notes": notes,
    }
    report["target_misses"] = targets_check(report)
    report["bound"] = bound(report, config, TARGETS)
    write_report(args.out, report)
    print(f"report written to {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
