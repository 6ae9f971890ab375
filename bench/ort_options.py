"""ONNX Runtime int8 options, side by side in one run: which quantisation and which session layout is fastest.

Issue 17 asked whether options that matter on CPUs without VNNI beat what spanqa ships (dynamic
int8, QInt8 weights per channel, uint8 activations: "U8S8", one session with --threads threads).
For the model folder --model and the first --limit questions of SQuAD v1.1 dev, this measures:

- quantisations, each exported from the same fp32 ONNX file of the model's weights and run by
  `Reader.predict` like a user's int8 folder (one window at a time, as dynamic int8 must):
  today's U8S8 per channel, `reduce_range` (7-bit weights: AVX2's u8 x s8 multiply-add then
  cannot saturate), U8U8 (QUInt8 weights), per-tensor weights, and static QDQ int8 calibrated on
  training windows (one scale per activation, fixed: no per-call DynamicQuantizeLinear, and the
  answers no longer depend on the batch). Reported: questions/s, F1 on --accuracy-limit questions,
  the share of questions whose best answer equals the fp32 export's, single-question p50;
- session layouts on the int8 file: one session with 2 threads, one with 1 thread, and two
  1-thread sessions answering windows in parallel (throughput in windows/s);
- static QDQ batched (8 windows a run) against one window a run, since only it may batch.

    python bench/ort_options.py --model spanqa/models/default --limit 600 --out reports/ort_options.md

Writes the markdown report and a JSON beside it, atomically.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from speedkit import REPO
from speedkit.data import score, select_questions
from speedkit.latency import latency, latency_example
from speedkit.machine import machine
from speedkit.report import fmt
from speedkit.stages import answers_to_all, queries_of, timed_predict

DEFAULT_DATA = REPO.parent / "shared/data/squad/dev-v1.1.json"
DEFAULT_CALIBRATION = REPO.parent / "shared/data/squad/train-v1.1.reconstructed.json"
# name -> quantize_int8 keyword arguments; "static" is built by static_int8 instead
QUANTISATIONS = {
    "U8S8 per channel (shipped settings)": {},
    "U8S8 per channel, reduce_range": {"reduce_range": True},
    "U8U8 per channel": {"weight_type": "QUInt8"},
    "U8S8 per tensor": {"per_channel": False},
    "static QDQ U8S8 per channel": None,
}
REFERENCE = next(iter(QUANTISATIONS))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="A torch spanqa model folder.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD v1.1 JSON (default: dev-v1.1).")
    parser.add_argument("--limit", type=int, default=600, help="Questions timed (the first N).")
    parser.add_argument("--accuracy-limit", type=int, default=None, help="Questions scored (default: all).")
    parser.add_argument("--calibration", type=Path, default=DEFAULT_CALIBRATION, help="Training SQuAD JSON.")
    parser.add_argument("--calibration-windows", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "ort_options.md")
    return parser.parse_args(argv)


def static_int8(plain_file: Path, target: Path, samples: list[dict[str, Any]]) -> None:
    """Static QDQ int8 (QInt8 weights per channel, QUInt8 activations) calibrated on `samples`.

    It starts from the unfused export, pre-processed as ONNX Runtime's quantisation guide asks:
    shape inference cannot see through the fused attention of the optimised file, and every
    tensor it cannot type stays fp32. ONNX Runtime fuses the QDQ pairs when it loads the result.
    """
    import logging

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from spanqa.inference.runtime.base import exported_model_feed
    from spanqa.inference.runtime.onnx_export import fp32_node_names, quiet

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # a warning per tensor it leaves in fp32 is noise here
    prepared = target.with_name("prepared.onnx")
    try:
        quant_pre_process(str(plain_file), str(prepared), skip_symbolic_shape=True)  # dynamic axes defeat it
        model = onnx.load(str(prepared), load_external_data=False)
        names = [node.name for node in model.graph.input]
        excluded = fp32_node_names(model.graph)
        with quiet():
            quantize_static(
                str(prepared),
                str(target),
                _windows_reader(CalibrationDataReader, [exported_model_feed(s, names, "ONNX") for s in samples]),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                nodes_to_exclude=excluded,
            )
    finally:
        root.setLevel(level)
        prepared.unlink(missing_ok=True)


def _windows_reader(base, feeds: list[dict[str, Any]]):
    """ONNX Runtime's calibration reader over `feeds`, one window each."""

    class Windows(base):
        def __init__(self) -> None:
            self.feeds = iter(feeds)

        def get_next(self):
            return next(self.feeds, None)

    return Windows()


def int8_folder(fp32_folder: Path, plain_file: Path, target: Path, options: dict | None, samples) -> Path:
    """A copy of the fp32 ONNX folder with model.int8.onnx quantised with `options` (None: static, from
    the unfused `plain_file`)."""
    from spanqa.inference.runtime.onnx_export import quantize_int8
    from spanqa.model.folder import ONNX_FILES

    shutil.copytree(fp32_folder, target)
    fp32_file = target / ONNX_FILES["fp32"]
    if options is None:
        static_int8(plain_file, target / ONNX_FILES["int8"], samples)
    else:
        quantize_int8(fp32_file, target / ONNX_FILES["int8"], **options)
    fp32_file.unlink()  # the reader then runs the int8 file
    return target


def agreement(predictions: dict[str, str], reference: dict[str, str]) -> float:
    """Share of questions whose best answer text equals the reference's."""
    return sum(predictions[key] == reference[key] for key in reference) / len(reference)


def measure_quantisation(reader, timed, scored, dataset, args, lat_case) -> dict[str, Any]:
    """questions/s of the timed questions, EM/F1 of the scored ones, and single-question latency."""
    reader.predict(timed[:4], batch_size=8)  # warm-up
    run = timed_predict(reader, timed, 8)
    predictions = answers_to_all(reader, run, scored, 8)
    exact, f1 = score(dataset, predictions)
    question, context, _ = lat_case
    return {
        "questions_per_second": len(timed) / run.seconds,
        "forward_s": run.stages["forward"],
        "exact": exact,
        "f1": f1,
        "latency_ms": latency(reader, question, context, args.latency_runs),
        "predictions": predictions,
    }


def window_batches(reader, examples, batch_size: int) -> list[dict[str, Any]]:
    """The padded batches `Reader.predict` runs for `examples`, `batch_size` windows each."""
    from spanqa.inference.features import length_sorted_batches, pad_windows
    from spanqa.inference.pipeline import encode_queries, pad_token_id

    windows = encode_queries(reader.tokenizer, queries_of(examples), reader.settings).windows
    pad = pad_token_id(reader.tokenizer)
    return [
        pad_windows([windows[i] for i in indices], pad)
        for indices in length_sorted_batches([w.length for w in windows], batch_size)
    ]


def windows_per_second(runtimes: list, batches: list[dict[str, Any]]) -> float:
    """Windows/s of running every batch, spread round-robin over the runtimes in parallel threads."""
    for runtime in runtimes:
        runtime.run(batches[0])  # warm-up
    shares = [batches[k :: len(runtimes)] for k in range(len(runtimes))]
    began = time.perf_counter()
    with ThreadPoolExecutor(len(runtimes)) as pool:  # ONNX Runtime releases the GIL while it runs
        list(pool.map(lambda k: [runtimes[k].run(batch) for batch in shares[k]], range(len(runtimes))))
    windows = sum(len(batch["input_ids"]) for batch in batches)
    return windows / (time.perf_counter() - began)


def session_layouts(int8_file: Path, single: list, threads: int) -> dict[str, float]:
    from spanqa.inference.runtime.onnx import OnnxRuntime

    return {
        f"1 session x {threads} threads": windows_per_second([OnnxRuntime(int8_file, "int8", threads)], single),
        "1 session x 1 thread": windows_per_second([OnnxRuntime(int8_file, "int8", 1)], single),
        "2 sessions x 1 thread, in parallel": windows_per_second(
            [OnnxRuntime(int8_file, "int8", 1), OnnxRuntime(int8_file, "int8", 1)], single
        ),
    }


def markdown(report: dict[str, Any]) -> str:
    info = report["machine"]
    reference = report["quantisations"][REFERENCE]
    lines = [
        "# ONNX Runtime int8 options",
        "",
        f"Command: `{report['command']}`  ",
        f"Model: `{report['model']}`; timed: the first {report['timed']:,} questions of `{report['data']}`; "
        f"scored: {report['scored']:,} questions.  ",
        f"Machine: {info['cpu']}, {info['cores']} cores, onnxruntime {info['onnxruntime']}, {report['threads']} "
        f"threads; AVX-512 {info['avx512f']}, VNNI {info['avx512_vnni']}.  ",
        f"Load average at start {report['load_average_start'][0]:.1f}, at end {report['load_average_end'][0]:.1f}.",
        "",
        "## Quantisations (Reader.predict, one window a run)",
        "",
        f"Every row is quantised from the same fp32 export of the weights. × and Δ are against "
        f"'{REFERENCE}'; 'same answer as fp32': share of the scored questions whose best answer equals the fp32 "
        "export's.",
        "",
        "| int8 | questions/s | × | EM | F1 | ΔF1 | same answer as fp32 | p50 ms |",
        "|---|---|---|---|---|---|---|---|",
        f"| fp32 (no quantisation) | {report['fp32']['questions_per_second']:.1f} | "
        f"{report['fp32']['questions_per_second'] / reference['questions_per_second']:.2f} | "
        f"{report['fp32']['exact']:.2f} | {report['fp32']['f1']:.2f} | "
        f"{report['fp32']['f1'] - reference['f1']:+.2f} | 100% | {report['fp32']['latency_ms']['p50']:.1f} |",
    ]
    for name, row in report["quantisations"].items():
        lines.append(
            f"| {name} | {row['questions_per_second']:.1f} | "
            f"{row['questions_per_second'] / reference['questions_per_second']:.2f} | {row['exact']:.2f} | "
            f"{row['f1']:.2f} | {row['f1'] - reference['f1']:+.2f} | {100 * row['agreement']:.1f}% | "
            f"{row['latency_ms']['p50']:.1f} |"
        )
    layouts = report["session_layouts"]
    first = next(iter(layouts.values()))
    lines += [
        "",
        "## Session layouts (the shipped int8 file, one window a run, windows/s)",
        "",
        "| layout | windows/s | × |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {rate:.1f} | {rate / first:.2f} |" for name, rate in layouts.items()]
    batched = report["static_batched"]
    lines += [
        "",
        "## Static int8 batched",
        "",
        "Static QDQ int8 has fixed activation scales, so its answers do not depend on the batch and it may "
        "run several windows a run.",
        "",
        "| windows a run | windows/s | × |",
        "|---|---|---|",
        f"| 1 | {batched['1']:.1f} | 1.00 |",
        f"| 8 | {batched['8']:.1f} | {fmt(batched['8'] / batched['1'], 2)} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from spanqa.fileio import write_json_atomic, write_text_atomic
    from spanqa.inference.reader import Reader
    from spanqa.inference.runtime.onnx import OnnxRuntime
    from spanqa.inference.runtime.onnx_export import export_onnx
    from spanqa.inference.runtime.openvino_export import calibration_batches
    from spanqa.model.folder import ONNX_FILES
    from spanqa.model.torch_io import load_model

    load_average_start = os.getloadavg()
    model = args.model.expanduser().resolve()
    scored, dataset = select_questions(args.data, args.accuracy_limit)
    timed = scored[: args.limit]
    report: dict[str, Any] = {
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "model": str(model),
        "data": str(args.data),
        "timed": len(timed),
        "scored": len(scored),
        "threads": args.threads,
        "machine": machine(),
        "load_average_start": load_average_start,
        "quantisations": {},
    }
    with tempfile.TemporaryDirectory(prefix="spanqa-ort-options-") as work_name:
        work = Path(work_name)
        print("exporting fp32 ...", flush=True)
        fp32_folder = export_onnx(model, work / "fp32").folder
        plain_file = export_onnx(model, work / "fp32-unfused", optimize=False).folder / ONNX_FILES["fp32"]
        fp32_reader = Reader.load(fp32_folder, backend="onnx", precision="fp32", threads=args.threads)
        lat_case = latency_example(timed, load_model(model).tokenizer)
        report["fp32"] = measure_quantisation(fp32_reader, timed, scored, dataset, args, lat_case)
        reference_answers = report["fp32"].pop("predictions")
        samples = calibration_batches(
            fp32_reader.tokenizer, fp32_reader.settings, [args.calibration], args.calibration_windows
        )
        for index, (name, options) in enumerate(QUANTISATIONS.items()):
            print(f"{name} ...", flush=True)
            folder = int8_folder(fp32_folder, plain_file, work / f"int8-{index}", options, samples)
            reader = Reader.load(folder, backend="onnx", precision="int8", threads=args.threads)
            row = measure_quantisation(reader, timed, scored, dataset, args, lat_case)
            row["agreement"] = agreement(row.pop("predictions"), reference_answers)
            report["quantisations"][name] = row
            print(f"  {row['questions_per_second']:.1f} q/s, F1 {row['f1']:.2f}", flush=True)
            if options is None:
                static_file = folder / ONNX_FILES["int8"]
                report["static_batched"] = {
                    str(size): windows_per_second(
                        [OnnxRuntime(static_file, "int8", args.threads)], window_batches(reader, timed, size)
                    )
                    for size in (1, 8)
                }
        print("session layouts ...", flush=True)
        shipped = model / ONNX_FILES["int8"]
        int8_file = shipped if shipped.is_file() else work / "int8-0" / ONNX_FILES["int8"]
        report["int8_file"] = str(int8_file)
        report["session_layouts"] = session_layouts(int8_file, window_batches(fp32_reader, timed, 1), args.threads)
    report["load_average_end"] = os.getloadavg()
    write_text_atomic(args.out, markdown(report))
    write_json_atomic(args.out.with_suffix(".json"), report)
    print(f"report written to {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
