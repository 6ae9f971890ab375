"""spanqa on a real local Ray cluster (ray.init(num_cpus=2)): the same answers as local predict, resuming after
the driver is killed, a row that cannot be answered, an actor that dies mid-job. One cluster for the module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import assert_one_error_line, run_main
from paths import REPO, question_ids
from paths import SQUAD_V1_SMALL as V11

from spanqa.data.parts import read_parts
from spanqa.distributed import ReaderActor

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    import ray.cloudpickle

    # Ray's workers cannot import this test module: send the crashing actor class by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def predict(monkeypatch, capsys, model: Path, data: Path, out: Path, *args: str):
    args = ("--out", str(out), "--model", str(model), "--precision", "fp32", "--no-progress", *args)
    return run_main(monkeypatch, capsys, "predict", str(data), *args)


def assert_same_answers(rows: list[dict], expected: list[dict]) -> None:
    assert [r["id"] for r in rows] == [e["id"] for e in expected]
    for row, local in zip(rows, expected, strict=True):
        assert (row["answer"], row["start"], row["end"]) == (local["answer"], local["start"], local["end"])
        assert row["score"] == pytest.approx(local["score"], abs=1e-6)
        assert row["no_answer_probability"] == pytest.approx(local["no_answer_probability"], abs=1e-6)
        assert [(a["answer"], a["start"], a["end"]) for a in row["answers"]] == [
            (a["answer"], a["start"], a["end"]) for a in local["answers"]
        ]


@pytest.fixture(scope="module")
def local_rows(tiny_model_dir, tmp_path_factory) -> list[dict]:
    """The local engine's parts for the fixture: what every Ray run must reproduce."""
    out = tmp_path_factory.mktemp("local") / "parts"
    with pytest.MonkeyPatch.context() as patch:
        from spanqa.cli import main

        patch.setattr(
            sys,
            "argv",
            [
                "spanqa",
                "predict",
                str(V11),
                "--out",
                str(out),
                "--model",
                str(tiny_model_dir),
                "--precision",
                "fp32",
                "--no-progress",
                "--top-k",
                "3",
            ],
        )
        main()
    return read_parts(out)


def test_ray_with_two_workers_gives_the_local_answers(
    cluster, monkeypatch, capsys, tiny_model_dir, tmp_path, local_rows
) -> None:
    out = tmp_path / "parts"
    code, stdout, err = predict(
        monkeypatch,
        capsys,
        tiny_model_dir,
        V11,
        out,
        "--engine",
        "ray",
        "--workers",
        "2",
        "--top-k",
        "3",
        "--rows-per-part",
        "25",
        "--rows-per-batch",
        "8",
    )
    assert code == 0, err
    assert "105 answers" in stdout
    assert len(list(out.glob("*.parquet"))) == 5
    assert_same_answers(read_parts(out), local_rows)


class CrashOnceActor(ReaderActor):
    """Dies (the whole worker process) on its first batch while the marker file exists."""

    def __init__(self, *args, marker: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.marker = Path(marker)

    def __call__(self, batch):
        if self.marker.exists():
            self.marker.unlink()
            os._exit(1)
        return super().__call__(batch)


def test_predict_dataset_survives_an_actor_crash_and_marks_bad_rows(
    cluster, tiny_model_dir, tmp_path, local_rows
) -> None:
    from spanqa.data.tables import plan_chunks, read_chunk
    from spanqa.distributed import predict_dataset

    columns = {
        name: [v for c in plan_chunks(V11) for v in read_chunk(c)[name]] for name in ("id", "question", "context")
    }
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    rows.insert(10, {"id": "empty", "question": "Who?", "context": ""})
    marker = tmp_path / "crash-once"
    marker.write_text("")

    class MarkedActor(CrashOnceActor):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, marker=str(marker), **kwargs)

    dataset = ray.data.from_items(rows, override_num_blocks=4)
    answered = predict_dataset(
        dataset, str(tiny_model_dir), workers=2, rows_per_batch=16, top_k=3, precision="fp32", actor_class=MarkedActor
    ).take_all()
    assert not marker.exists(), "the actor should have crashed once"
    by_id = {row["id"]: row for row in answered}
    assert sorted(by_id) == sorted([*question_ids(V11), "empty"]) and len(answered) == len(rows)
    assert by_id["empty"]["error"] == "context is empty: give a non-empty context"
    assert by_id["empty"]["answers"] == []
    assert_same_answers([by_id[row["id"]] for row in local_rows], local_rows)


def test_a_killed_driver_resumes_with_every_id_once(
    cluster, monkeypatch, capsys, tiny_model_dir, tmp_path, local_rows
) -> None:
    out = tmp_path / "parts"
    args = [
        "predict",
        str(V11),
        "--out",
        str(out),
        "--model",
        str(tiny_model_dir),
        "--precision",
        "fp32",
        "--no-progress",
        "--top-k",
        "3",
        "--engine",
        "ray",
        "--address",
        cluster,
        "--workers",
        "1",
        "--rows-per-part",
        "5",
        "--rows-per-batch",
        "5",
        "--batch-size",
        "1",
    ]
    driver = subprocess.Popen(
        [sys.executable, "-m", "spanqa", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 180
    while len(list(out.glob("*.parquet"))) < 2 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    _, stderr = driver.communicate()
    finished = len(list(out.glob("*.parquet")))
    assert 2 <= finished < 21, (
        f"the driver should have been killed halfway ({finished} parts); stderr: {stderr[-2000:]}"
    )
    code, stdout, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    assert f"{105 - 5 * finished:,} answered now" in stdout
    rows = read_parts(out)
    assert [r["id"] for r in rows] == question_ids(V11)
    assert_same_answers(rows, local_rows)


def test_ray_errors_are_one_line(cluster, monkeypatch, capsys, tiny_model_dir, tmp_path) -> None:
    code, _, err = predict(
        monkeypatch, capsys, tiny_model_dir, V11, tmp_path / "a", "--engine", "ray", "--workers", "3"
    )
    assert_one_error_line(code, err, "3 workers × 1 CPUs need 3 CPUs but the Ray cluster has 2")
    code, _, err = predict(monkeypatch, capsys, tmp_path / "no-model", V11, tmp_path / "b", "--engine", "ray")
    assert_one_error_line(code, err, "does not exist")
