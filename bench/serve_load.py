"""Load test of `spanqa serve`: N concurrent clients on loopback for a bounded time.

Starts `spanqa serve` as a subprocess, sends real SQuAD questions (../shared/data/squad/dev-v1.1.json
by default) from --clients concurrent asyncio + httpx clients for --duration seconds (after a short
warm-up that is not counted), then stops the server with SIGTERM (graceful shutdown) and measures
the reader's offline batch throughput (Reader.predict on the same questions, same batch size) in
this process, so the two numbers come from the same machine in the same run.

Reports throughput, p50/p95/p99 latency, errors by kind, the server's resident memory before and
after the load (and its peak), whether the served answers equal the offline ones, and the ratio
served/offline throughput. The clients run on the same CPU as the server: on a small machine they
take a share of it, so the ratio is a lower bound.

    python bench/serve_load.py --model MODEL_DIR --clients 32 --duration 120 --out reports/serve_load

Soak mode (`--soak`: API keys on, 10% bad requests, 5% clients that hang up mid-request) checks
that hostile traffic changes nothing: bad requests are invalid JSON (400), wrong types (422),
bodies over the server's max_body_bytes (413) and requests without a key (401), each expected to
get exactly that status; hang-ups close the connection halfway through the body or right after
sending it. The report adds the count of 5xx answers (must be 0), whether the server process was
still alive at the end, and the server's median RSS in every minute after the warm-up.

    python bench/serve_load.py --soak --clients 32 --duration 600 --out reports/serve_load_soak
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared/data/squad/dev-v1.1.json"
FALLBACK_DATA = REPO / "tests/fixtures/squad-v1.1-dev-small.json"
MAX_CLIENTS = 256
MAX_DURATION_S = 600.0
READY_TIMEOUT_S = 300.0


BAD_KINDS = {"invalid_json": 400, "wrong_types": 422, "oversized": 413, "unauthenticated": 401}
HANGUP_KINDS = ("hangup_mid_body", "hangup_before_answer")


@dataclass
class Mix:
    """What each client sends: good questions, and with these probabilities bad requests or hang-ups."""

    bad_fraction: float = 0.0
    hangup_fraction: float = 0.0
    api_key: str | None = None
    max_body_bytes: int = 0  # the server's limit, for the oversized bodies
    seed: int = 0


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    # soak: kind of request -> status (or "hung up", or an exception name) -> count
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    first_answers: dict[int, str] = field(default_factory=dict)  # question index -> best answer text
    elapsed_s: float = 0.0
    rss_kib: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the load, server VmRSS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the model shipped with spanqa)")
    parser.add_argument("--data", type=Path, help=f"SQuAD JSON with the questions (default: {DEFAULT_DATA})")
    parser.add_argument("--clients", type=int, default=32, help=f"concurrent clients (1..{MAX_CLIENTS})")
    parser.add_argument("--duration", type=float, default=120.0, help=f"measured seconds (1..{MAX_DURATION_S:.0f})")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring (0..60)")
    parser.add_argument("--questions", type=int, default=2000, help="distinct questions, cycled (first N of --data)")
    parser.add_argument("--offline-questions", type=int, default=1000, help="questions for the offline baseline")
    parser.add_argument("--max-batch", type=int, default=32, help="server --max-batch (and the offline batch size)")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0, help="server --batch-wait-ms")
    parser.add_argument("--max-queue", type=int, default=256, help="server --max-queue")
    parser.add_argument("--backend", default="auto", help="auto (as `spanqa serve`), torch or onnx")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16 (torch) or int8 (onnx)")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="seconds before a request counts as failed")
    parser.add_argument("--out", type=Path, default=REPO / "reports/serve_load", help="writes OUT.md and OUT.json")
    parser.add_argument(
        "--soak", action="store_true", help="API keys on, 10%% bad requests, 5%% hang-ups (override with the next two)"
    )
    parser.add_argument("--bad-fraction", type=float, help="share of requests that are bad (0..0.9)")
    parser.add_argument("--hangup-fraction", type=float, help="share of requests whose client hangs up (0..0.9)")
    parser.add_argument("--api-keys", action="store_true", help="start the server with an API key (on with --soak)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clients' choices of request")
    args = parser.parse_args(argv)
    if args.bad_fraction is None:
        args.bad_fraction = 0.1 if args.soak else 0.0
    if args.hangup_fraction is None:
        args.hangup_fraction = 0.05 if args.soak else 0.0
    args.api_keys = args.api_keys or args.soak
    for name in ("bad_fraction", "hangup_fraction"):
        if not 0 <= getattr(args, name) <= 0.9:
            parser.error(f"--{name.replace('_', '-')} must lie in 0..0.9, got {getattr(args, name)}")
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must lie in 1..{MAX_CLIENTS}, got {args.clients}")
    if not 1 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must lie in 1..{MAX_DURATION_S:.0f} seconds, got {args.duration}")
    if not 0 <= args.warmup <= 60:
        parser.error(f"--warmup must lie in 0..60 seconds, got {args.warmup}")
    if args.questions < 1 or args.offline_questions < 1:
        parser.error("--questions and --offline-questions must be positive")
    return args


def load_questions(path: Path | None, limit: int) -> tuple[list[tuple[str, str]], Path]:
    from spanqa.data import load_squad

    if path is None:
        path = DEFAULT_DATA if DEFAULT_DATA.exists() else FALLBACK_DATA
    examples = load_squad(path)[:limit]
    return [(e.question, e.context) for e in examples], path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident peak) of a process, from /proc/PID/status."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


def start_server(
    args: argparse.Namespace, port: int, log_path: Path, api_key: str | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "spanqa", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--max-batch", str(args.max_batch), "--batch-wait-ms", str(args.batch_wait_ms)]
    command += ["--max-queue", str(args.max_queue), "--backend", args.backend, "--precision", args.precision]
    command += ["--log-level", "warning", "--no-access-log"]
    if args.model:
        command += ["--model", args.model]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("SPANQA_API_KEYS", None)
    if api_key is not None:
        env["SPANQA_API_KEYS"] = api_key
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    log = log_path.open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def wait_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(base_url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready after {READY_TIMEOUT_S:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> int | None:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return None


async def run_load(
    base_url: str,
    questions: list[tuple[str, str]],
    clients: int,
    seconds: float,
    timeout: float,
    server_pid: int | None = None,
    mix: Mix | None = None,
) -> Phase:
    import httpx

    mix = mix or Mix()
    phase = Phase()
    counter = iter(range(10**12))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    auth = {"Authorization": f"Bearer {mix.api_key}"} if mix.api_key else {}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as http:
        deadline = time.perf_counter() + seconds

        def note(kind: str, outcome: str) -> None:
            by_outcome = phase.outcomes.setdefault(kind, {})
            by_outcome[outcome] = by_outcome.get(outcome, 0) + 1

        async def good() -> None:
            index = next(counter) % len(questions)
            question, context = questions[index]
            began = time.perf_counter()
            try:
                response = await http.post("/v1/answer", json={"question": question, "context": context}, headers=auth)
            except httpx.HTTPError as error:
                phase.errors[type(error).__name__] = phase.errors.get(type(error).__name__, 0) + 1
                note("good", type(error).__name__)
                return
            latency_ms = (time.perf_counter() - began) * 1000.0
            note("good", str(response.status_code))
            if response.status_code != 200:
                kind = f"HTTP {response.status_code}"
                phase.errors[kind] = phase.errors.get(kind, 0) + 1
                if response.status_code == 503:  # overloaded: back off as told
                    await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 1.0))
                return
            phase.latencies_ms.append(latency_ms)
            answers = response.json()["answers"]
            phase.first_answers.setdefault(index, answers[0]["answer"] if answers else "")

        async def bad(kind: str) -> None:
            json_type = {"Content-Type": "application/json"}
            try:
                if kind == "invalid_json":
                    response = await http.post(
                        "/v1/answer", content=b'{"question": "Who', headers={**json_type, **auth}
                    )
                elif kind == "wrong_types":
                    body = {"question": 5, "context": ["a"], "top_k": "3"}
                    response = await http.post("/v1/answer", json=body, headers=auth)
                elif kind == "oversized":
                    body = b'{"question": "Who?", "context": "' + b"x" * (mix.max_body_bytes + 1024) + b'"}'
                    response = await http.post("/v1/answer", content=body, headers={**json_type, **auth})
                else:  # unauthenticated
                    question, context = questions[next(counter) % len(questions)]
                    response = await http.post("/v1/answer", json={"question": question, "context": context})
            except httpx.HTTPError as error:
                note(kind, type(error).__name__)
                return
            note(kind, str(response.status_code))

        async def hang_up(kind: str) -> None:
            """A raw connection that closes halfway through its body, or right after sending all of it."""
            question, context = questions[next(counter) % len(questions)]
            body = json.dumps({"question": question, "context": context}).encode()
            host, port = base_url.removeprefix("http://").rsplit(":", 1)
            head = (
                f"POST /v1/answer HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                + (f"Authorization: Bearer {mix.api_key}\r\n" if mix.api_key else "")
                + "\r\n"
            ).encode()
            try:
                _, writer = await asyncio.open_connection(host, int(port))
                writer.write(head + (body[: len(body) // 2] if kind == "hangup_mid_body" else body))
                await writer.drain()
                writer.close()
                await writer.wait_closed()
            except OSError as error:
                note(kind, type(error).__name__)
                return
            note(kind, "hung up")

        async def client(number: int) -> None:
            rng = random.Random(mix.seed * 1000 + number)
            bad_kinds = [k for k in BAD_KINDS if k != "unauthenticated" or mix.api_key]
            while time.perf_counter() < deadline:
                draw = rng.random()
                if draw < mix.bad_fraction:
                    await bad(rng.choice(bad_kinds))
                elif draw < mix.bad_fraction + mix.hangup_fraction:
                    await hang_up(rng.choice(HANGUP_KINDS))
                else:
                    await good()

        async def sample_memory() -> None:
            # once a second, so a working set that settles can be told from one that keeps growing
            while server_pid is not None and time.perf_counter() < deadline:
                rss = memory_kib(server_pid).get("VmRSS")
                if rss is not None:
                    phase.rss_kib.append((time.perf_counter() - began, rss))
                await asyncio.sleep(1.0)

        began = time.perf_counter()
        await asyncio.gather(sample_memory(), *(client(number) for number in range(clients)))
        phase.elapsed_s = time.perf_counter() - began
    return phase


def minute_medians_kib(samples: list[tuple[float, int]]) -> list[float]:
    """Median server RSS in each whole or partial minute of the measured load (after the warm-up)."""
    minutes: dict[int, list[int]] = {}
    for seconds, rss in samples:
        minutes.setdefault(int(seconds // 60), []).append(rss)
    return [float(statistics.median(minutes[m])) for m in sorted(minutes)]


def soak_summary(phase: Phase, mix: Mix, alive_at_end: bool) -> dict[str, Any]:
    """5xx answers, answers other than the one expected for the kind of request, and the hang-ups."""
    server_errors = sum(n for by in phase.outcomes.values() for o, n in by.items() if o.isdigit() and int(o) >= 500)
    unexpected = {}
    for kind, by_outcome in phase.outcomes.items():
        expected = {"good": {"200"}, **{k: {str(v)} for k, v in BAD_KINDS.items()}}.get(kind, {"hung up"})
        wrong = {o: n for o, n in by_outcome.items() if o not in expected}
        if wrong:
            unexpected[kind] = wrong
    return {
        "bad_fraction": mix.bad_fraction,
        "hangup_fraction": mix.hangup_fraction,
        "api_keys": mix.api_key is not None,
        "requests_by_kind": {kind: sum(by.values()) for kind, by in sorted(phase.outcomes.items())},
        "outcomes_by_kind": {kind: dict(sorted(by.items())) for kind, by in sorted(phase.outcomes.items())},
        "server_errors_5xx": server_errors,
        "unexpected_outcomes": unexpected,
        "server_alive_at_end": alive_at_end,
        "rss_median_by_minute_kib": minute_medians_kib(phase.rss_kib),
    }


def _rss_at(phase: Phase, share: float) -> int | None:
    """Server RSS at the last sample taken before `share` of the load had passed."""
    if not phase.rss_kib:
        return None
    cutoff = phase.rss_kib[-1][0] * share
    return [rss for seconds, rss in phase.rss_kib if seconds <= cutoff][-1]


FLAT_GROWTH_PCT = 5.0  # "flat memory": the median RSS of the last quarter of the load is < 5% above the second's


def _quarter_medians_kib(samples: list[tuple[float, int]]) -> list[float]:
    """Median server RSS in each quarter of the load (RSS swings within a batch; medians show the trend)."""
    import statistics

    count = len(samples)
    quarters = [[rss for _, rss in samples[i * count // 4 : (i + 1) * count // 4]] for i in range(4)]
    return [float(statistics.median(q)) for q in quarters if q]


def _memory_growth_pct(samples: list[tuple[float, int]]) -> float | None:
    """Growth of the median RSS from the second quarter of the load (after warm-up) to the last."""
    medians = _quarter_medians_kib(samples)
    if len(medians) < 4:
        return None
    return round(100.0 * (medians[3] - medians[1]) / medians[1], 1)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 10) - 1]


def offline_throughput(args: argparse.Namespace, questions: list[tuple[str, str]]) -> dict[str, Any]:
    from spanqa.inference.reader import Reader

    reader = Reader.load(args.model, backend=args.backend, precision=args.precision)
    subset = questions[: args.offline_questions]
    reader.predict(subset[: min(len(subset), args.max_batch)], batch_size=args.max_batch)  # warm-up
    began = time.perf_counter()
    predictions = reader.predict(subset, batch_size=args.max_batch)
    elapsed = time.perf_counter() - began
    return {
        "questions": len(subset),
        "seconds": round(elapsed, 3),
        "questions_per_s": round(len(subset) / elapsed, 2),
        "batch_size": args.max_batch,
        "answers": [p.best_text for p in predictions],
    }


def round_or_none(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def summarise(args: argparse.Namespace, run: dict[str, Any]) -> dict[str, Any]:
    phase: Phase = run["phase"]
    offline = run["offline"]
    latencies = phase.latencies_ms
    served_qps = len(latencies) / phase.elapsed_s if phase.elapsed_s > 0 else 0.0
    compared = [i for i in phase.first_answers if i < len(offline["answers"])]
    same = sum(phase.first_answers[i] == offline["answers"][i] for i in compared)
    return {
        "command": "python bench/serve_load.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "note": "clients, server and offline baseline share this machine's CPUs",
        },
        "model": run["model"],
        "data": str(run["data"]),
        "server": {
            "max_batch": args.max_batch,
            "batch_wait_ms": args.batch_wait_ms,
            "max_queue": args.max_queue,
            "backend": args.backend,
            "precision": args.precision,
            "exit_code_after_sigterm": run["exit_code"],
        },
        "load": {
            "clients": args.clients,
            "duration_s": round(phase.elapsed_s, 2),
            "warmup_s": args.warmup,
            "distinct_questions": len(run["questions"]),
            "requests_ok": len(latencies),
            "errors": sum(phase.errors.values()),
            "errors_by_kind": phase.errors,
            "throughput_qps": round(served_qps, 2),
            "latency_ms": {
                "mean": round_or_none(statistics.fmean(latencies) if latencies else None),
                "p50": round_or_none(percentile(latencies, 50)),
                "p95": round_or_none(percentile(latencies, 95)),
                "p99": round_or_none(percentile(latencies, 99)),
                "max": round_or_none(max(latencies) if latencies else None),
            },
        },
        "memory_kib": {
            "rss_before": run["memory_before"].get("VmRSS"),
            "rss_after": run["memory_after"].get("VmRSS"),
            "peak": run["memory_after"].get("VmHWM"),
            "rss_at_quarter_load": _rss_at(run["phase"], 0.25),
            "rss_at_half_load": _rss_at(run["phase"], 0.5),
            "median_by_quarter": _quarter_medians_kib(run["phase"].rss_kib),
            "growth_second_to_last_quarter_pct": _memory_growth_pct(run["phase"].rss_kib),
            "flat": (growth := _memory_growth_pct(run["phase"].rss_kib)) is not None and growth < FLAT_GROWTH_PCT,
            "rss_at_end_of_load": _rss_at(run["phase"], 1.0),
            "samples": run["phase"].rss_kib,
        },
        "offline": {k: v for k, v in offline.items() if k != "answers"},
        "served_vs_offline_throughput": round(served_qps / offline["questions_per_s"], 3)
        if offline["questions_per_s"]
        else None,
        "answers_equal_offline": {"compared": len(compared), "equal": same},
        "soak": soak_summary(phase, run["mix"], run["alive_at_end"]),
    }


def markdown(report: dict[str, Any]) -> str:
    load, memory, offline, server = report["load"], report["memory_kib"], report["offline"], report["server"]
    latency = load["latency_ms"]

    def mib(kib: int | None) -> str:
        return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"

    errors = ", ".join(f"{k}: {v}" for k, v in load["errors_by_kind"].items()) or "none"
    agree = report["answers_equal_offline"]
    lines = [
        "# spanqa serve under load",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{report['model']}`, questions from `{report['data']}` "
        f"({load['distinct_questions']:,} distinct, cycled). "
        f"Python {report['environment']['python']}, {report['environment']['cpus']} CPUs; "
        f"{report['environment']['note']}.",
        "",
        f"Server: --max-batch {server['max_batch']} --batch-wait-ms {server['batch_wait_ms']} "
        f"--max-queue {server['max_queue']} --backend {server['backend']} --precision {server['precision']}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| clients | {load['clients']} |",
        f"| measured seconds (after {load['warmup_s']} s warm-up) | {load['duration_s']} |",
        f"| requests answered | {load['requests_ok']:,} |",
        f"| errors | {load['errors']} ({errors}) |",
        f"| served throughput | {load['throughput_qps']} questions/s |",
        f"| latency p50 / p95 / p99 / max | {latency['p50']} / {latency['p95']} / {latency['p99']} / "
        f"{latency['max']} ms |",
        f"| offline Reader.predict (batch {offline['batch_size']}, {offline['questions']:,} questions) | "
        f"{offline['questions_per_s']} questions/s |",
        f"| served / offline throughput | {report['served_vs_offline_throughput']} |",
        f"| server RSS before / after load (peak) | {mib(memory['rss_before'])} / {mib(memory['rss_after'])} "
        f"({mib(memory['peak'])}) |",
        f"| server RSS at a quarter / half / the end of the load | {mib(memory['rss_at_quarter_load'])} / "
        f"{mib(memory['rss_at_half_load'])} / {mib(memory['rss_at_end_of_load'])} |",
        "| server RSS median in each quarter of the load | "
        + " / ".join(mib(int(m)) for m in memory["median_by_quarter"])
        + " |",
        f"| median RSS growth, second to last quarter | {memory['growth_second_to_last_quarter_pct']}% "
        f"({'flat' if memory['flat'] else 'NOT flat'}: flat means under {FLAT_GROWTH_PCT:g}%) |",
        f"| served best answer equal to offline | {agree['equal']:,} of {agree['compared']:,} |",
        f"| server exit code after SIGTERM | {server['exit_code_after_sigterm']}"
        + (
            " (uvicorn re-raises the signal after its graceful shutdown)"
            if server["exit_code_after_sigterm"] == -15
            else ""
        )
        + " |",
        "",
    ]
    soak = report.get("soak")
    if soak and (soak["bad_fraction"] or soak["hangup_fraction"] or soak["api_keys"]):
        unexpected = json.dumps(soak["unexpected_outcomes"]) if soak["unexpected_outcomes"] else "none"
        lines += [
            "## Soak: bad requests and hang-ups among the good ones",
            "",
            f"API keys {'on' if soak['api_keys'] else 'off'}; {soak['bad_fraction']:.0%} of requests bad, "
            f"{soak['hangup_fraction']:.0%} from clients that hang up mid-request. Latency and throughput above "
            "count the good requests only.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| server errors (5xx) | {soak['server_errors_5xx']} |",
            f"| server alive at the end (before SIGTERM) | {'yes' if soak['server_alive_at_end'] else 'NO'} |",
            f"| answers other than expected | {unexpected} |",
            "| server RSS median, minute by minute | "
            + " / ".join(mib(int(m)) for m in soak["rss_median_by_minute_kib"])
            + " |",
            "",
            "| kind of request | expected | sent | outcomes |",
            "|---|---|---|---|",
        ]
        for kind, by_outcome in soak["outcomes_by_kind"].items():
            expected = {"good": 200, **BAD_KINDS}.get(kind, "hung up")
            outcomes = ", ".join(f"{o}: {n:,}" for o, n in by_outcome.items())
            lines.append(f"| {kind} | {expected} | {soak['requests_by_kind'][kind]:,} | {outcomes} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import httpx

    from spanqa.fileio import write_json_atomic, write_text_atomic

    questions, data_path = load_questions(args.data, args.questions)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_key = secrets.token_urlsafe(24) if args.api_keys else None
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        process = start_server(args, port, log_path, api_key)
        try:
            wait_ready(process, base_url, log_path)
            auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
            model_info = httpx.get(base_url + "/v1/model", headers=auth, timeout=10).json()
            model = model_info["name"]
            mix = Mix(
                bad_fraction=args.bad_fraction,
                hangup_fraction=args.hangup_fraction,
                api_key=api_key,
                max_body_bytes=int(model_info["limits"]["max_body_bytes"]),
                seed=args.seed,
            )
            memory_before = memory_kib(process.pid)
            if args.warmup > 0:
                asyncio.run(run_load(base_url, questions, args.clients, args.warmup, args.request_timeout, mix=mix))
            print(f"serving {model} on {base_url}: {args.clients} clients for {args.duration:.0f} s", flush=True)
            phase = asyncio.run(
                run_load(base_url, questions, args.clients, args.duration, args.request_timeout, process.pid, mix)
            )
            memory_after = memory_kib(process.pid)
            alive_at_end = process.poll() is None
        finally:
            exit_code = stop_server(process)
    print(f"{len(phase.latencies_ms):,} answers in {phase.elapsed_s:.1f} s; measuring offline throughput", flush=True)
    offline = offline_throughput(args, questions)
    run = {
        "phase": phase,
        "offline": offline,
        "model": model,
        "data": data_path,
        "questions": questions,
        "memory_before": memory_before,
        "memory_after": memory_after,
        "exit_code": exit_code,
        "mix": mix,
        "alive_at_end": alive_at_end,
    }
    report = summarise(args, run)
    base = args.out.with_suffix("") if args.out.suffix in (".md", ".json") else args.out
    write_json_atomic(base.with_name(base.name + ".json"), report)
    write_text_atomic(base.with_name(base.name + ".md"), markdown(report))
    shown = ("load", "offline", "served_vs_offline_throughput", "soak")
    print(json.dumps({k: report[k] for k in shown}, indent=2))
    print(f"wrote {base}.md and {base}.json")


if __name__ == "__main__":
    main()
