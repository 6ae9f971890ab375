"""Questions/s of `spanqa predict` into parts: the local engine against Ray with 1 and 2 workers, same run.

The first --questions questions of SQuAD v1.1 dev, written as one JSONL table, answered by
- local: the local engine in this process (the model on --cpus threads);
- ray 1 worker: one actor holding all --cpus CPUs (Ray's overhead against local, same cores);
- ray N workers: --cpus actors of 1 CPU each (what adding workers buys);
each into its own parts folder, with the same rows per batch. Ray's cluster start (ray.init) is
timed apart; each Ray row includes its actors loading the model, as a real job does. The answers of
every Ray row are checked against local's. Writes a markdown report and the same numbers as JSON.

    python bench/distributed.py --questions 2000 --out reports/distributed.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from speedkit import REPO
from speedkit.machine import machine

DEFAULT_DATA = REPO.parent / "shared/data/squad/dev-v1.1.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--questions", type=int, default=2000, help="The first N questions (default 2,000).")
    parser.add_argument("--model", default="default", help="Model folder (default: the shipped int8 ONNX model).")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs for each engine (local threads, Ray's num_cpus).")
    parser.add_argument("--rows-per-batch", type=int, default=64)
    parser.add_argument("--rows-per-part", type=int, default=500)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "distributed.md")
    return parser.parse_args(argv)


def write_questions(data: Path, limit: int, path: Path) -> int:
    from spanqa.data import load_squad

    examples = load_squad(data)[:limit]
    lines = [json.dumps({"id": e.id, "question": e.question, "context": e.context}) for e in examples]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(examples)


def rows_of(out: Path) -> dict[str, tuple]:
    from spanqa.data.parts import read_parts

    return {r["id"]: (r["answer"], r["start"], r["end"], r["score"]) for r in read_parts(out)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from spanqa.inference.reader import Reader
    from spanqa.inference.table_job import TableJob, plan_job, run_local

    model = None if args.model == "default" else args.model
    load_start = os.getloadavg()
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="spanqa-bench-distributed-") as work_name:
        work = Path(work_name)
        questions = write_questions(args.data, args.questions, work / "questions.jsonl")

        def job(name: str) -> TableJob:
            return TableJob(
                work / "questions.jsonl",
                work / name,
                rows_per_part=args.rows_per_part,
                rows_per_batch=args.rows_per_batch,
                model=args.model,
            )

        print(f"local ({args.cpus} threads) ...", flush=True)
        started = time.perf_counter()
        reader = Reader.load(model, threads=args.cpus)
        loaded = time.perf_counter()
        local = job("local")
        run_local(local, plan_job(local)[1], reader, progress=False)
        seconds = time.perf_counter() - started
        results.append(
            {
                "engine": "local",
                "workers": 1,
                "cpus_per_worker": args.cpus,
                "seconds": seconds,
                "load_seconds": loaded - started,
                "agree": 1.0,
            }
        )
        print(f"  {questions / seconds:.1f} questions/s", flush=True)
        del reader
        expected = rows_of(local.out)

        import ray

        from spanqa.distributed import run_ray
        from spanqa.model.folder import resolve_backend

        started = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.WARNING)
        ray_start = time.perf_counter() - started
        backend, precision = resolve_backend(model, "auto", "auto")
        for workers, cpus in ((1, args.cpus), (args.cpus, 1)):
            name = f"ray-{workers}x{cpus}"
            print(f"{name} ...", flush=True)
            ray_job = job(name)
            pending = plan_job(ray_job)[1]
            started = time.perf_counter()
            run_ray(
                ray_job,
                pending,
                model=model,
                backend=backend,
                precision=precision,
                workers=workers,
                cpus_per_worker=cpus,
                progress=False,
            )
            seconds = time.perf_counter() - started
            got = rows_of(ray_job.out)
            same = sum(got[i][:3] == expected[i][:3] and abs(got[i][3] - expected[i][3]) <= 1e-6 for i in expected)
            results.append(
                {
                    "engine": "ray",
                    "workers": workers,
                    "cpus_per_worker": cpus,
                    "seconds": seconds,
                    "load_seconds": None,
                    "agree": same / len(expected),
                }
            )
            print(f"  {questions / seconds:.1f} questions/s, answers equal local: {same}/{len(expected)}", flush=True)
        ray.shutdown()
    for result in results:
        result["questions_per_second"] = questions / result["seconds"]
        result["vs_local"] = result["questions_per_second"] / results[0]["questions_per_second"]
        result["per_cpu"] = result["questions_per_second"] / (result["workers"] * result["cpus_per_worker"])
    report = {
        "command": shlex.join(["python", *sys.argv]),
        "data": str(args.data),
        "questions": questions,
        "model": args.model,
        "cpus": args.cpus,
        "rows_per_batch": args.rows_per_batch,
        "rows_per_part": args.rows_per_part,
        "ray_init_seconds": ray_start,
        "machine": info,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "results": results,
    }
    write_report(args.out, report)
    print(f"report written to {args.out} and {args.out.with_suffix('.json')}")
    return 0


def markdown(report: dict) -> str:
    info, results = report["machine"], report["results"]
    one_worker = next(r for r in results if r["engine"] == "ray" and r["workers"] == 1)
    lines = [
        "# spanqa predict: local engine vs Ray",
        "",
        f"Command: `{report['command']}`  ",
        f"Data: first {report['questions']:,} questions of `{report['data']}`, as one JSONL table; model "
        f"`{report['model']}`; {report['rows_per_batch']} rows per batch, {report['rows_per_part']} per part.  ",
        f"Machine: {info['cpu']}, {info['cores']} cores, onnxruntime {info['onnxruntime']}, torch {info['torch']}, "
        f"Python {info['python']}.  ",
        f"Load average at start {report['load_average_start'][0]:.1f}, at end {report['load_average_end'][0]:.1f} "
        "(other jobs share these cores: compare the rows of one run, not runs).",
        "",
        "| engine | workers × CPUs | seconds | questions/s | × local | questions/s per CPU | answers = local |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['engine']} | {r['workers']} × {r['cpus_per_worker']} | {r['seconds']:.1f} | "
            f"{r['questions_per_second']:.1f} | {r['vs_local']:.2f} | {r['per_cpu']:.1f} | {100 * r['agree']:.1f}% |"
        )
    overhead = 1 - one_worker["vs_local"]
    lines += [
        "",
        f"Ray's overhead at 1 worker (same {report['cpus']} CPUs as local): {100 * overhead:.1f}% of local throughput "
        f"(target ≤ 15%). Ray's cluster start (ray.init, not in the rows): {report['ray_init_seconds']:.1f} s. Each "
        "row includes loading the model (local: in this process; Ray: in every actor) and writing the parts.",
        "",
    ]
    if max(report["load_average_start"][0], report["load_average_end"][0]) > report["cpus"]:
        lines += [
            "## Contention",
            "",
            f"The load average ({report['load_average_start'][0]:.1f}-{report['load_average_end'][0]:.1f}) was above "
            f"the {report['cpus']} CPUs: other jobs shared the cores. Rows whose model runs on several threads suffer "
            "most (each run waits for its slowest thread, and ONNX Runtime's threads spin), so here the 1-CPU "
            "workers' gain over local overstates what adding workers buys on idle cores; rerun on an idle machine "
            "for the scaling ratio. The answers are the same in every row either way.",
            "",
        ]
    return "\n".join(lines)


def write_report(out: Path, report: dict) -> None:
    from spanqa.fileio import write_json_atomic, write_text_atomic

    write_text_atomic(out, markdown(report))
    write_json_atomic(out.with_suffix(".json"), report)


if __name__ == "__main__":
    sys.exit(main())
