"""Speed and accuracy of every inference backend, against transformers' QuestionAnsweringPipeline.

For the model folder --model (a torch spanqa folder; the ONNX folders are exported here) and the
first --limit questions of SQuAD v1.1 dev, in one run:

- questions/s of `Reader.predict` for torch fp32, torch bf16, onnx fp32 and onnx int8 (the batch
  size tuned per backend on the first --tune-limit questions), and EM/F1 of their answers;
- the same for QuestionAnsweringPipeline (transformers 4.57.6, in its own virtual environment
  under ~/.cache/spanqa-bench, built on first use: the pipeline left transformers in 5.3), with
  its best batch size of 1, 8, 16;
- single-question latency p50/p99 on a ~150-token window (tokenising and decoding included);
- start-up time of `python -m spanqa ask` (import + model load + one answer), as a subprocess;
- the measured matmul peaks of this machine (fp32/bf16 torch, int8 ONNX Runtime MatMulInteger and
  torch._int_mm) and the share of them the model's FLOPs reach;
- where a target is missed, where the time goes: tokenising, forward, decoding.

Writes a markdown report to --out and the same numbers as JSON beside it (.json), atomically.

    python bench/speed.py --model MODEL_DIR --limit 300 --out reports/speed.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared/data/squad/dev-v1.1.json"
BASELINE_VENV = Path.home() / ".cache/spanqa-bench/pipeline-venv"
BASELINE_PINS = ("torch==2.13.0", "transformers==4.57.6")  # pin torch: unpinned, pip pulls the CUDA build
BACKENDS = {
    "torch-fp32": ("torch", "fp32"),
    "torch-bf16": ("torch", "bf16"),
    "onnx-fp32": ("onnx", "fp32"),
    "onnx-int8": ("onnx", "int8"),
}
PEAK_FOR = {"fp32": "fp32", "bf16": "bf16", "int8": "int8"}
TARGETS = {"throughput_ratio": 3.0, "f1_loss": 0.5, "p50_ms": 20.0, "startup_s": 1.5}
LATENCY_TOKENS = 150


@dataclass
class BackendResult:
    name: str
    backend: str
    precision: str
    batch_size: int = 0
    tuning: dict[str, float] = field(default_factory=dict)
    questions: int = 0
    seconds: float = 0.0
    questions_per_second: float = 0.0
    exact: float | None = None
    f1: float | None = None
    stages: dict[str, float] = field(default_factory=dict)  # seconds of the timed predict run
    windows: int = 0
    tokens: int = 0
    gflop: float = 0.0  # model FLOPs of the run's windows (real tokens only), in GFLOP
    achieved_gflops: float = 0.0  # gflop / forward seconds
    peak_share: float | None = None  # achieved / the measured matmul peak of this precision
    latency_ms: dict[str, float] = field(default_factory=dict)
    startup_s: float | None = None
    load_s: float = 0.0
    skipped: str | None = None


# ---------------------------------------------------------------------------- data
def select_questions(data_path: Path, limit: int | None) -> tuple[list[Any], dict[str, Any]]:
    """(the first `limit` questions as Examples, the dataset restricted to them for scoring)."""
    from spanqa.data import load_squad_json
    from spanqa.data.squad import examples_from_squad

    dataset = load_squad_json(data_path)
    examples = examples_from_squad(dataset)
    if limit is not None:
        examples = examples[:limit]
    kept = {e.id for e in examples}
    articles = []
    for article in dataset["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = [qa for qa in paragraph["qas"] if str(qa["id"]) in kept]
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    return examples, {"version": dataset.get("version", "1.1"), "data": articles}


def score(dataset: dict[str, Any], predictions: dict[str, str]) -> tuple[float, float]:
    from spanqa.evaluation.metrics import squad_metrics

    metrics = squad_metrics(dataset, predictions)
    return float(metrics["exact"]), float(metrics["f1"])


# ---------------------------------------------------------------------------- timing the stages
class StageTimer:
    """Times the stages of the real `Reader.predict` path by wrapping what spanqa.inference.reader calls."""

    def __init__(self, reader) -> None:
        import spanqa.inference.reader as reader_module

        self.module = reader_module
        self.reader = reader
        self.seconds = {"tokenize": 0.0, "forward": 0.0, "decode": 0.0}
        self.window_lengths: list[int] = []
        self._originals = (reader_module.encode_windows, reader_module.decode_example, reader.runtime.run)

    def _timed(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - began

        return wrapper

    def __enter__(self) -> StageTimer:
        encode, decode, run = self._originals

        def encode_and_count(*args: Any, **kwargs: Any):
            windows = encode(*args, **kwargs)
            self.window_lengths.extend(w.length for w in windows)
            return windows

        self.module.encode_windows = self._timed("tokenize", encode_and_count)
        self.module.decode_example = self._timed("decode", decode)
        self.reader.runtime.run = self._timed("forward", run)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.module.encode_windows, self.module.decode_example, _ = self._originals
        del self.reader.runtime.run  # back to the class's method


def timed_predict(reader, examples, batch_size: int) -> tuple[float, list[Any], StageTimer]:
    with StageTimer(reader) as timer:
        began = time.perf_counter()
        predictions = reader.predict(examples, batch_size=batch_size)
        seconds = time.perf_counter() - began
    timer.seconds["other"] = max(0.0, seconds - sum(timer.seconds.values()))
    return seconds, predictions, timer


def latency_example(examples, tokenizer, target: int = LATENCY_TOKENS) -> tuple[str, str, int]:
    """(question, context, tokens) of the question whose single window is closest to `target` tokens."""
    best = None
    for example in examples[:500]:
        tokens = len(tokenizer(example.question, example.context)["input_ids"])
        if best is None or abs(tokens - target) < abs(best[2] - target):
            best = (example.question, example.context, tokens)
    assert best is not None
    return best


def latency(reader, question: str, context: str, runs: int) -> dict[str, float]:
    for _ in range(3):
        reader.ask(question, context)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        reader.ask(question, context)
        times.append((time.perf_counter() - began) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)), "runs": runs}


def startup_time(model: Path, backend: str, precision: str, question: str, context: str, runs: int) -> float:
    command = [sys.executable, "-m", "spanqa", "ask", "-q", question, "-c", context, "--model", str(model)]
    command += ["--backend", backend, "--precision", precision, "--json"]
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise RuntimeError(f"`{shlex.join(command)}` failed: {done.stderr.strip()[-500:]}")
    return statistics.median(times)


# ---------------------------------------------------------------------------- FLOPs and peaks
def window_gflop(config: dict[str, Any], head: str, lengths: list[int]) -> float:
    """Multiply-add FLOPs of the encoder and head over windows of these lengths (2 per multiply-add)."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    intermediate = config.get("intermediate_size", 4 * hidden)
    per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * intermediate)  # Q, K, V, O, FFN in and out
    per_token += 2 * hidden * 2 if head == "linear" else 2 * (2 * hidden * hidden + 2 * hidden)
    total = 0.0
    for length in lengths:
        attention = 4 * layers * length * length * hidden  # QK^T and (softmax)V
        pointer = 2 * length * length * hidden if head == "pointer" else 0
        total += per_token * length + attention + pointer
    return total / 1e9


def _best_rate(work: Callable[[], Any], flop: float, budget_s: float) -> float:
    work()  # warm-up
    rates, spent = [], 0.0
    while spent < budget_s or len(rates) < 2:
        began = time.perf_counter()
        work()
        elapsed = time.perf_counter() - began
        spent += elapsed
        rates.append(flop / elapsed / 1e9)
        if len(rates) >= 20:
            break
    return max(rates)


def _size_within(work_at: Callable[[int], Callable[[], Any]], budget_s: float, largest: int = 2048) -> int:
    """The largest n (256 .. `largest`, doubling) whose n x n product takes under budget_s / 4 here."""
    n = 256
    while n < largest:
        work = work_at(n)
        work()
        began = time.perf_counter()
        work()
        if (time.perf_counter() - began) * 8 > budget_s / 4:  # the next size costs ~8x
            break
        n *= 2
    return n


def matmul_peaks(budget_s: float = 2.0) -> dict[str, dict[str, Any]]:
    """Best GFLOP/s (GOP/s for int8) of square matrix products, 2048 x 2048 where that fits the budget."""
    import torch

    peaks: dict[str, dict[str, Any]] = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):

        def work_at(n: int, dtype=dtype):
            a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
            return lambda: a @ b

        n = _size_within(work_at, budget_s)
        peaks[name] = {"gflops": _best_rate(work_at(n), 2 * n**3, budget_s), "n": n, "how": f"torch {name} matmul"}
    n = _size_within(_ort_int8_work, budget_s)
    peaks["int8"] = {"gflops": _best_rate(_ort_int8_work(n), 2 * n**3, budget_s), "n": n, "how": "ORT MatMulInteger"}
    if hasattr(torch, "_int_mm"):

        def int_mm_at(n: int):
            a = torch.randint(-128, 127, (n, n), dtype=torch.int8)
            b = torch.randint(-128, 127, (n, n), dtype=torch.int8)
            return lambda: torch._int_mm(a, b)

        n = _size_within(int_mm_at, budget_s)
        peaks["int8_torch"] = {"gflops": _best_rate(int_mm_at(n), 2 * n**3, budget_s), "n": n, "how": "torch._int_mm"}
    return peaks


def _ort_int8_work(n: int) -> Callable[[], Any]:
    """uint8 activations x int8 weights -> int32 with ONNX Runtime's MatMulInteger (as dynamic int8 runs)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.integers(-128, 127, (n, n), dtype=np.int8), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["C"])],
        "int8_peak",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("C", TensorProto.INT32, [n, n])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    activations = rng.integers(0, 255, (n, n), dtype=np.uint8)
    onnx.checker.check_model(model)
    return lambda: session.run(None, {"A": activations})


# ---------------------------------------------------------------------------- exports
def _ships_onnx(model: Path, precision: str) -> bool:
    """Whether the model folder itself holds the ONNX file of `precision` (what its users run)."""
    from spanqa.model.folder import ONNX_FILES

    return (model / ONNX_FILES[precision]).exists()


def _exported_from(folder: Path, model: Path) -> bool:
    """Whether `folder` holds an ONNX export of `model`'s current weights (a retrained model is re-exported)."""
    from spanqa.model.folder import weights_fingerprint

    try:
        record = json.loads((folder / "spanqa.json").read_text(encoding="utf-8"))["onnx_export"]
        made_from, onnx_file = record["source_weights_sha256"], folder / record["file"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return made_from == weights_fingerprint(model) and onnx_file.exists()


def export_for(model: Path, export_dir: Path, precision: str) -> Path:
    """The ONNX folder of `model` for `precision`: the model folder itself when it ships that ONNX file
    (what its users run: the default model's int8 file was quantised from the fp32 training weights,
    not from the fp16 copy beside it), else an export under export_dir, reused when made from the
    same weights."""
    from spanqa.inference.runtime.onnx_export import export_onnx

    if _ships_onnx(model, precision):
        print(f"  {precision}: the model folder's own ONNX file", flush=True)
        return model
    folder = export_dir / precision
    if _exported_from(folder, model):
        return folder
    result = export_onnx(model, folder, int8=precision == "int8", overwrite=True)
    print(
        f"  exported {precision}: {result.size_bytes / 2**20:.1f} MiB, fp32 max |diff| vs torch "
        f"{result.max_abs_diff:.2g}"
        + (f", int8 max |diff| {result.int8_max_abs_diff:.2g}" if result.int8_max_abs_diff is not None else ""),
        flush=True,
    )
    return folder


# ---------------------------------------------------------------------------- one backend
def run_backend(
    name: str, model: Path, export_dir: Path, examples, dataset, args, peaks, config, lat_case
) -> BackendResult:
    from spanqa.inference.reader import Reader

    backend, precision = BACKENDS[name]
    result = BackendResult(name=name, backend=backend, precision=precision)
    folder = model if backend == "torch" else export_for(model, export_dir, precision)
    began = time.perf_counter()
    reader = Reader.load(folder, backend=backend, precision=precision)
    result.load_s = time.perf_counter() - began
    if args.threads is not None and backend == "onnx":
        from spanqa.inference.runtime.onnx import OnnxRuntime

        reader.runtime = OnnxRuntime(reader.runtime.model_path, precision=precision, threads=args.threads)
    tune = examples[: args.tune_limit]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    reader.predict(tune[:4], batch_size=batch_sizes[0])  # warm-up
    if len(batch_sizes) > 1:
        for batch_size in batch_sizes:
            seconds, _, _ = timed_predict(reader, tune, batch_size)
            result.tuning[str(batch_size)] = len(tune) / seconds
        result.batch_size = int(max(result.tuning, key=result.tuning.get))
    else:
        result.batch_size = batch_sizes[0]
    seconds, predictions, timer = timed_predict(reader, examples, result.batch_size)
    result.questions, result.seconds = len(examples), seconds
    result.questions_per_second = len(examples) / seconds
    result.stages = dict(timer.seconds)
    result.windows, result.tokens = len(timer.window_lengths), int(sum(timer.window_lengths))
    result.gflop = window_gflop(config, reader.info.head, timer.window_lengths)
    result.achieved_gflops = result.gflop / max(timer.seconds["forward"], 1e-9)
    peak = peaks.get(PEAK_FOR[precision], {}).get("gflops")
    result.peak_share = result.achieved_gflops / peak if peak else None
    result.exact, result.f1 = score(dataset, {p.example_id: p.best_text for p in predictions})
    question, context, _ = lat_case
    result.latency_ms = latency(reader, question, context, args.latency_runs)
    if args.startup_runs > 0:
        result.startup_s = startup_time(folder, backend, precision, question, context, args.startup_runs)
    return result


# ---------------------------------------------------------------------------- the pipeline baseline
def baseline_python(venv: Path) -> Path:
    """The baseline venv's python, building the venv (pinned torch and transformers) when needed."""
    python = venv / "bin" / "python"
    wanted = {pin.split("==")[0]: pin.split("==")[1] for pin in BASELINE_PINS}
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import torch, transformers; print(torch.__version__, transformers.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
        versions = probe.stdout.split()
        if probe.returncode == 0 and len(versions) == 2:
            torch_version, transformers_version = versions
            if torch_version.split("+")[0] == wanted["torch"] and transformers_version == wanted["transformers"]:
                return python
    print(f"  building the baseline venv in {venv} ({', '.join(BASELINE_PINS)}) ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *BASELINE_PINS], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the baseline venv failed:\n{done.stderr[-3000:]}")
    return python


def run_baseline(model: Path, examples, dataset, settings, args, work: Path) -> dict[str, Any]:
    python = baseline_python(Path(args.baseline_venv).expanduser())
    questions = [{"id": e.id, "question": e.question, "context": e.context} for e in examples]
    questions_path, out_path = work / "baseline-questions.json", work / "baseline-result.json"
    questions_path.write_text(json.dumps(questions), encoding="utf-8")
    command = [
        str(python), str(REPO / "bench" / "pipeline_baseline.py"), "--model", str(model),
        "--questions", str(questions_path), "--out", str(out_path), "--batch-sizes", args.baseline_batch_sizes,
        "--tune-limit", str(args.tune_limit), "--max-seq-len", str(settings.max_seq_len),
        "--doc-stride", str(settings.doc_stride), "--max-question-len", str(settings.max_question_len),
        "--max-answer-len", str(settings.max_answer_len),
    ]  # fmt: skip
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"the pipeline baseline failed:\n{done.stderr[-2000:]}")
    report = json.loads(out_path.read_text(encoding="utf-8"))
    report["exact"], report["f1"] = score(dataset, report.pop("predictions"))
    return report


# ---------------------------------------------------------------------------- the report
def machine() -> dict[str, Any]:
    import onnxruntime
    import torch

    from spanqa.model.folder import cpu_has_fast_bf16

    flags, model_name = set(), platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model_name,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags or "amx_bf16" in flags,
        "avx512_vnni": "avx512_vnni" in flags or "avx_vnni" in flags,
        "native_bf16": cpu_has_fast_bf16(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def _fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{suffix}"


def targets_check(report: dict[str, Any]) -> list[str]:
    """One line per target and backend that misses it."""
    misses = []
    baseline = report.get("baseline")
    for result in report["backends"]:
        if result["skipped"]:
            continue
        name = result["name"]
        if baseline:
            ratio = result["questions_per_second"] / baseline["questions_per_second"]
            loss = baseline["f1"] - result["f1"]
            if ratio < TARGETS["throughput_ratio"]:
                misses.append(
                    f"{name}: {ratio:.2f}× the pipeline's throughput (target ≥ {TARGETS['throughput_ratio']}×)"
                )
            if loss > TARGETS["f1_loss"]:
                misses.append(f"{name}: F1 {loss:.2f} below the pipeline's (target ≤ {TARGETS['f1_loss']})")
        if result["latency_ms"]["p50"] > TARGETS["p50_ms"]:
            misses.append(f"{name}: p50 latency {result['latency_ms']['p50']:.1f} ms (target ≤ {TARGETS['p50_ms']} ms)")
        if result["startup_s"] is not None and result["startup_s"] > TARGETS["startup_s"]:
            misses.append(f"{name}: start-up {result['startup_s']:.2f} s (target ≤ {TARGETS['startup_s']} s)")
    return misses


def markdown(report: dict[str, Any]) -> str:
    info, baseline = report["machine"], report.get("baseline")
    lines = [
        "# spanqa inference speed and accuracy",
        "",
        f"Command: `{report['command']}`  ",
        f"Model: `{report['model']}` ({report['head']} head); data: `{report['data']}`, first {report['questions']:,} "
        f"questions; {report['windows']:,} windows.  ",
        f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} threads; "
        f"ONNX Runtime threads: {report['threads'] or 'its default'}; "
        f"{info['cpu_capability']}), onnxruntime {info['onnxruntime']}; AVX-512 {info['avx512f']}, native bf16 "
        f"{info['native_bf16']}, VNNI {info['avx512_vnni']}.  ",
        f"Load average at start {report['load_average_start'][0]:.1f}, at end {report['load_average_end'][0]:.1f} "
        "(other jobs share this machine: compare ratios within a run).",
        "",
        "## Throughput and accuracy",
        "",
        "| backend | batch | questions/s | × pipeline | EM | F1 | ΔF1 vs pipeline | p50 ms | p99 ms | start-up s |"
        " GFLOP/s | share of peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    if baseline:
        lines.append(
            f"| pipeline (transformers {baseline['transformers']}) | {baseline['batch_size']} | "
            f"{baseline['questions_per_second']:.1f} | 1.00 | {baseline['exact']:.2f} | {baseline['f1']:.2f} | — | — |"
            f" — | {baseline['load_seconds']:.2f} (load) | — | — |"
        )
    for r in report["backends"]:
        if r["skipped"]:
            lines.append(f"| {r['name']} | skipped: {r['skipped']} |||||||||||")
            continue
        ratio = r["questions_per_second"] / baseline["questions_per_second"] if baseline else None
        delta = r["f1"] - baseline["f1"] if baseline else None
        share = None if r["peak_share"] is None else 100 * r["peak_share"]
        lines.append(
            f"| {r['name']} | {r['batch_size']} | {r['questions_per_second']:.1f} | {_fmt(ratio, 2)} | "
            f"{r['exact']:.2f} | {r['f1']:.2f} | {_fmt(delta, 2)} | {r['latency_ms']['p50']:.1f} | "
            f"{r['latency_ms']['p99']:.1f} | {_fmt(r['startup_s'], 2)} | {r['achieved_gflops']:.1f} | "
            f"{_fmt(share, 1, '%')} |"
        )
    lines += [
        "",
        f"Latency: one question, a {report['latency_tokens']}-token window, `Reader.ask` (tokenising and decoding "
        "included). Start-up: wall time of `python -m spanqa ask ... --model M --backend B --precision P` "
        "(import, load, one answer), median of runs. GFLOP/s: model FLOPs of the real tokens (matmuls and "
        "attention) over the forward time; share of the measured matmul peak of the backend's precision.",
        "",
        "## Matmul peaks measured in this run",
        "",
        "| precision | how | size | GFLOP/s (GOP/s for int8) |",
        "|---|---|---|---|",
    ]
    for name, peak in report["peaks"].items():
        lines.append(f"| {name} | {peak['how']} | {peak['n']}×{peak['n']} | {peak['gflops']:.1f} |")
    misses = report["target_misses"]
    lines += ["", "## Targets", ""]
    lines += [
        f"≥ {TARGETS['throughput_ratio']}× pipeline throughput at ≤ {TARGETS['f1_loss']} F1 loss; p50 ≤ "
        f"{TARGETS['p50_ms']} ms; start-up ≤ {TARGETS['startup_s']} s.",
        "",
    ]
    lines += [f"- missed: {miss}" for miss in misses] or ["- all met"]
    if misses:
        lines += [
            "",
            "## Where the time goes (the timed predict run)",
            "",
            "| backend | tokenise s | forward s | decode s | other s | forward share |",
            "|---|---|---|---|---|---|",
        ]
        for r in report["backends"]:
            if r["skipped"]:
                continue
            s = r["stages"]
            total = sum(s.values())
            lines.append(
                f"| {r['name']} | {s['tokenize']:.2f} | {s['forward']:.2f} | {s['decode']:.2f} | {s['other']:.2f} | "
                f"{100 * s['forward'] / total:.0f}% |"
            )
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="A torch spanqa model folder.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD v1.1 JSON (default: dev-v1.1).")
    parser.add_argument("--limit", type=int, default=None, help="Use the first N questions (default: all).")
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
        "--force-bf16", action="store_true", help="Run torch-bf16 even on a CPU without native bf16 (slow)."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from spanqa.fileio import write_json_atomic, write_text_atomic
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
    examples, dataset = select_questions(args.data, args.limit)
    args.tune_limit = min(args.tune_limit, len(examples))
    model_info = read_model_info(model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    tokenizer = load_model(model).tokenizer
    lat_case = latency_example(examples, tokenizer)
    notes: list[str] = []
    print(f"measuring matmul peaks (≤ {args.peak_budget:g} s each) ...", flush=True)
    peaks = matmul_peaks(args.peak_budget)
    if peaks["int8_torch"]["gflops"] < peaks["int8"]["gflops"] / 10:
        notes.append("torch._int_mm has no fast CPU kernel here; the int8 peak is ONNX Runtime's MatMulInteger.")
    shipped = [precision for precision in ("fp32", "int8") if _ships_onnx(model, precision)]
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
                f"p50 {result.latency_ms['p50']:.1f} ms, start-up {_fmt(result.startup_s, 2)} s",
                flush=True,
            )
            results.append(result)
        baseline = None
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
    measured = [r for r in results if not r.skipped]
    report = {
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "model": str(model),
        "head": model_info.head,
        "data": str(args.data),
        "questions": len(examples),
        "windows": measured[0].windows if measured else 0,
        "latency_tokens": lat_case[2],
        "threads": args.threads,
        "machine": info,
        "load_average_start": load_average_start,
        "load_average_end": os.getloadavg(),
        "peaks": peaks,
        "backends": [asdict(r) for r in results],
        "baseline": baseline,
        "notes": notes,
    }
    report["target_misses"] = targets_check(report)
    write_text_atomic(args.out, markdown(report))
    write_json_atomic(args.out.with_suffix(".json"), report)
    print(f"report written to {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
