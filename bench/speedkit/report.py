"""The speed report: the targets a run is held to, and the markdown written beside its JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bound import bound_lines

# issue 17's targets: predict >= 2.5x the pipeline (goal 3.5x) with dF1 <= 0.3 on full dev, single-question
# p50 <= 20 ms on a 150-token context, start-up <= 1 s
TARGETS = {"throughput_ratio": 2.5, "throughput_goal": 3.5, "f1_loss": 0.3, "p50_ms": 20.0, "startup_s": 1.0}


def fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
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
        f"Model: `{report['model']}` ({report['head']} head); data: `{report['data']}`; timed: the first "
        f"{report['questions']:,} questions ({report['windows']:,} windows); EM and F1: "
        f"{report.get('scored_questions', report['questions']):,} questions.  ",
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
    peer = report.get("peer")  # absent from reports written before the peer was added
    if peer:
        ratio, delta = peer["questions_per_second"] / baseline["questions_per_second"], peer["f1"] - baseline["f1"]
        lines.append(
            f"| {peer['name']} (Optimum {peer['optimum']}) | {peer['batch_size']} | "
            f"{peer['questions_per_second']:.1f} | {ratio:.2f} | {peer['exact']:.2f} | {peer['f1']:.2f} | {delta:.2f} |"
            f" — | — | {peer['load_seconds']:.2f} (load) | — | — |"
        )
    for r in report["backends"]:
        if r["skipped"]:
            lines.append(f"| {r['name']} | skipped: {r['skipped']} |||||||||||")
            continue
        ratio = r["questions_per_second"] / baseline["questions_per_second"] if baseline else None
        delta = r["f1"] - baseline["f1"] if baseline else None
        share = None if r["peak_share"] is None else 100 * r["peak_share"]
        lines.append(
            f"| {r['name']} | {r['batch_size']} | {r['questions_per_second']:.1f} | {fmt(ratio, 2)} | "
            f"{r['exact']:.2f} | {r['f1']:.2f} | {fmt(delta, 2)} | {r['latency_ms']['p50']:.1f} | "
            f"{r['latency_ms']['p99']:.1f} | {fmt(r['startup_s'], 2)} | {r['achieved_gflops']:.1f} | "
            f"{fmt(share, 1, '%')} |"
        )
    lines += [
        "",
        f"Latency: one question, a {report['latency_tokens']}-token window, `Reader.ask` (tokenising and decoding "
        "included). Start-up: wall time of `python -m spanqa ask ... --model M --backend B --precision P` "
        "(import, load, one answer), median of runs. GFLOP/s: model FLOPs of the real tokens (matmuls and "
        "attention) over the forward time; share of the best matmul peak measured for the backend's precision.",
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
        f"≥ {TARGETS['throughput_ratio']}× pipeline throughput (goal {TARGETS['throughput_goal']}×) at ≤ "
        f"{TARGETS['f1_loss']} F1 loss; p50 ≤ {TARGETS['p50_ms']} ms; start-up ≤ {TARGETS['startup_s']} s.",
        "",
    ]
    lines += [f"- missed: {miss}" for miss in misses] or ["- all met"]
    lines += bound_lines(report.get("bound") or {}, TARGETS, report["latency_tokens"])
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


def write_report(out: Path, report: dict[str, Any]) -> None:
    """The markdown report to `out` and the same numbers as JSON beside it (.json), atomically."""
    from spanqa.fileio import write_json_atomic, write_text_atomic

    write_text_atomic(out, markdown(report))
    write_json_atomic(out.with_suffix(".json"), report)
