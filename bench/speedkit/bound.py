"""The bound: what questions/s and latency the model's FLOPs allow at 100% of each measured matmul peak.

From the FLOPs of the run's real windows (model shape x token counts, speedkit.flops) and the
peaks measured in the same run. Where a target needs more than 100% of a peak, it is out of reach
at this model's FLOPs, and the FLOP cut that would bring it within the peak is shown.
"""

from __future__ import annotations

from typing import Any

from .flops import window_gflop
from .peaks import peak_of


def bound(report: dict[str, Any], config: dict[str, Any], targets: dict[str, float]) -> dict[str, Any]:
    """Per peak precision: q/s and single-question ms at 100% of it, and the share of it each target needs."""
    measured = [r for r in report["backends"] if not r["skipped"]]
    if not measured:
        return {}
    run = measured[0]  # every back-end answers the same windows, so their FLOPs are the same
    per_question = run["gflop"] / run["questions"]
    latency_gflop = window_gflop(config, report["head"], [report["latency_tokens"]])
    baseline = report.get("baseline")
    ratios = {"target": targets["throughput_ratio"], "goal": targets["throughput_goal"]}
    rows = {}
    for precision in ("fp32", "int8"):
        peak = peak_of(report["peaks"], precision)
        if not peak:
            continue
        row: dict[str, Any] = {
            "peak_gflops": peak,
            "questions_per_second_at_peak": peak / per_question,
            "p50_ms_at_peak": 1000 * latency_gflop / peak,
            "p50_target_share": latency_gflop / (targets["p50_ms"] / 1000) / peak,
        }
        if baseline:
            row["times_pipeline_at_peak"] = row["questions_per_second_at_peak"] / baseline["questions_per_second"]
            for name, ratio in ratios.items():
                needed = ratio * baseline["questions_per_second"] * per_question  # GFLOP/s
                row[f"throughput_{name}_share"] = needed / peak
        rows[precision] = row
    return {"gflop_per_question": per_question, "latency_gflop": latency_gflop, "precisions": rows}


def flop_cut(share: float) -> float:
    """The share of FLOPs to cut so that a target needing `share` of a peak needs at most all of it."""
    return max(0.0, 1 - 1 / share)


def bound_lines(found: dict[str, Any], targets: dict[str, float], latency_tokens: int) -> list[str]:
    """The markdown section of `bound`'s numbers."""
    if not found:
        return []
    lines = [
        "",
        "## The bound",
        "",
        f"FLOPs per question: {found['gflop_per_question']:.2f} GFLOP (the run's real windows, from the model's "
        f"shape); a {latency_tokens}-token window: {found['latency_gflop']:.2f} GFLOP. At 100% of each peak "
        "measured above:",
        "",
        "| peak | GFLOP/s | questions/s at 100% | × pipeline at 100% | share needed for "
        f"{targets['throughput_ratio']}× | for {targets['throughput_goal']}× | p50 ms at 100% | share needed for "
        f"p50 ≤ {targets['p50_ms']:g} ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    out_of_reach = []
    for precision, row in found["precisions"].items():
        times = row.get("times_pipeline_at_peak")
        target_share, goal_share = row.get("throughput_target_share"), row.get("throughput_goal_share")
        lines.append(
            f"| {precision} | {row['peak_gflops']:.1f} | {row['questions_per_second_at_peak']:.1f} | "
            f"{'—' if times is None else f'{times:.2f}'} | "
            f"{'—' if target_share is None else f'{100 * target_share:.0f}%'} | "
            f"{'—' if goal_share is None else f'{100 * goal_share:.0f}%'} | {row['p50_ms_at_peak']:.1f} | "
            f"{100 * row['p50_target_share']:.0f}% |"
        )
        for what, share in (
            (f"{targets['throughput_ratio']}× the pipeline", target_share),
            (f"{targets['throughput_goal']}× the pipeline", goal_share),
            (f"p50 ≤ {targets['p50_ms']:g} ms", row["p50_target_share"]),
        ):
            if share is not None and share > 1:
                out_of_reach.append(
                    f"{what} needs {100 * share:.0f}% of the {precision} peak: out of reach at this model's FLOPs; "
                    f"it needs {100 * flop_cut(share):.0f}% fewer FLOPs per question."
                )
    lines += [""] + ([f"- {line}" for line in out_of_reach] or ["- every target is within 100% of every peak."])
    return lines
