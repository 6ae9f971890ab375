"""Training steps/s of `spanqa train` under glibc's malloc and under jemalloc, side by side in one run.

Why: a step's activations are blocks of tens of MB (batch 32 x 384 tokens). glibc serves blocks
that large with mmap and gives them back on free, and `spanqa train` also returns the rest of
the free heap after every step (spanqa/heap.py, without which memory grows until the kernel
kills the run), so every step faults all its activation pages in afresh. On the stage-5 run that
put about a third of the CPU time in the kernel. jemalloc told never to purge
(`dirty_decay_ms:-1`) keeps those pages and hands them out again.

Each allocator trains the same model on the same windows for --steps optimiser steps in its own
process (an allocator is chosen when a process starts: LD_PRELOAD), one after the other. The
first --warmup-steps are not timed. Reported: steps/s and windows/s, the share of CPU time spent
in the kernel, minor page faults per step, peak resident memory, and each rate as a ratio to
glibc's.

    python bench/train_allocator.py --base spanqa/models/default --steps 40 --out reports/train_allocator.md

Writes the markdown report and a JSON beside it, atomically. jemalloc comes from the C library
path (Debian/Ubuntu: `apt-get install libjemalloc2`); without it the script says so and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from speedkit import REPO
from speedkit.machine import machine
from speedkit.report import fmt

from spanqa.fileio import write_json_atomic, write_text_atomic

DEFAULT_DATA = REPO.parent / "shared/data/squad/train-v1.1.reconstructed.json"
# What scripts/train_default_model.sh sets when it finds jemalloc: never purge, one arena for all sizes.
JEMALLOC_CONF = "oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1"


def find_jemalloc() -> str | None:
    """The path of libjemalloc.so.2 as the dynamic linker knows it, or None."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in listing.splitlines():
        if "libjemalloc.so.2" in line and "=>" in line:
            return line.split("=>", 1)[1].strip()
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="Model folder to train from.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD training JSON.")
    parser.add_argument("--questions", type=int, default=3000, help="Training questions read (the first N).")
    parser.add_argument("--steps", type=int, default=40, help="Optimiser steps per allocator.")
    parser.add_argument("--warmup-steps", type=int, default=5, help="First steps not timed.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--precision", default="bf16", help="fp32 or bf16 (stage 5 trains in bf16).")
    parser.add_argument("--out", type=Path, default=REPO / "reports/train_allocator.md")
    return parser.parse_args(argv)


def train_once(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """Run `spanqa train` in a child process: its rates from the run log, its CPU and memory from wait4."""
    out = workdir / "run"
    command = [
        sys.executable, "-m", "spanqa", "train", "--base", args.base, "--train", str(args.data),
        "--out", str(out), "--max-steps", str(args.steps), "--max-train-examples", str(args.questions),
        "--batch-size", str(args.batch_size), "--max-seq-len", str(args.max_seq_len),
        "--doc-stride", str(args.doc_stride), "--precision", args.precision, "--lr", "1e-4",
        "--save-every", str(10**9), "--log-every", "1", "--no-progress",
    ]  # fmt: skip
    with open(workdir / "stderr.txt", "w+") as stderr:
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU times, faults and peak memory
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        if child.returncode != 0:
            stderr.seek(0)
            name = env.get("LD_PRELOAD") or "glibc"
            raise SystemExit(f"spanqa train failed under {name}:\n{stderr.read()[-2000:]}")
    records = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    timed = steps[args.warmup_steps :]
    seconds = timed[-1]["time"] - steps[args.warmup_steps - 1]["time"]
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "losses": [r["loss"] for r in steps],
        "steps_timed": len(timed),
        "seconds": seconds,
        "steps_per_s": len(timed) / seconds,
        "windows_per_s": len(timed) * args.batch_size / seconds,
        "kernel_share": usage.ru_stime / cpu if cpu else 0.0,
        "faults_per_step": usage.ru_minflt / args.steps,
        "peak_rss_gib": usage.ru_maxrss / 2**20,  # KiB on Linux
    }


def measure(args: argparse.Namespace, name: str, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="train-allocator-") as tmp:
        return {"allocator": name, **train_once(args, env, Path(tmp))}


def report(args: argparse.Namespace, rows: list[dict[str, Any]], facts: dict[str, Any], library: str) -> str:
    baseline = rows[0]
    command = "python bench/train_allocator.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# Training speed: glibc malloc vs jemalloc",
        "",
        f"`{command}`: {args.steps} steps of {args.batch_size} windows (at most {args.max_seq_len} tokens), "
        f"{args.precision}, the first {args.warmup_steps} not timed, each allocator in its own process; "
        f"{facts['cpu']}, {facts['cores']} cores, torch {facts['torch']} ({facts['cpu_capability']}) with "
        f"{facts['torch_threads']} threads. jemalloc: `LD_PRELOAD={library}` "
        f"`MALLOC_CONF={JEMALLOC_CONF}`.",
        "",
        "| allocator | steps/s | windows/s | × glibc | CPU in the kernel | page faults/step | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['allocator']} | {fmt(row['steps_per_s'], 3)} | {fmt(row['windows_per_s'], 1)} | "
            f"{row['steps_per_s'] / baseline['steps_per_s']:.2f} | {row['kernel_share']:.0%} | "
            f"{row['faults_per_step']:,.0f} | {row['peak_rss_gib']:.1f} GiB |"
        )
    same = all(row["losses"] == baseline["losses"] for row in rows)
    lines += [
        "",
        f"The losses of all {args.steps} steps (same seed, data and order) are "
        + (
            "identical under both allocators: the allocator changes what a run costs, not what it learns."
            if same
            else "NOT identical under both allocators: see the JSON report."
        ),
        "",
        "Page faults and the kernel's share count the whole process (start-up and data preparation too); "
        "steps/s counts the timed steps only.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    library = find_jemalloc()
    if library is None:
        raise SystemExit("no libjemalloc.so.2 on this machine: install it (Debian: apt-get install libjemalloc2)")
    if not args.data.exists():
        raise SystemExit(f"{args.data} does not exist: pass --data with a SQuAD training file")
    plain = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")}
    rows = [measure(args, "glibc malloc (+ malloc_trim every step)", plain)]
    rows.append(measure(args, "jemalloc, never purge", {**plain, "LD_PRELOAD": library, "MALLOC_CONF": JEMALLOC_CONF}))
    facts = machine()
    text = report(args, rows, facts, library)
    write_text_atomic(args.out, text)
    write_json_atomic(args.out.with_suffix(".json"), {"args": {k: str(v) for k, v in vars(args).items()},
                                                      "machine": facts, "jemalloc": library, "rows": rows})  # fmt: skip
    print(text)


if __name__ == "__main__":
    main()
