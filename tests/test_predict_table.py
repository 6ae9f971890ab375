"""predict_table (the table-in/table-out function of both engines), table inputs, parts output, and
`spanqa predict` into parts with the local engine: formats, resuming, errors. Tiny model; Ray is in test_distributed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import assert_one_error_line, run_main
from paths import REPO, question_ids
from paths import SQUAD_V1_SMALL as V11

from spanqa.data import load_squad
from spanqa.data.parts import JOB_FILE, OUTPUT_COLUMNS, read_parts
from spanqa.data.tables import plan_chunks, read_chunk
from spanqa.errors import DataFileError
from spanqa.inference.table import predict_table


def squad_columns(limit: int | None = None) -> dict[str, list]:
    examples = load_squad(V11)[:limit]
    return {
        "id": [e.id for e in examples],
        "question": [e.question for e in examples],
        "context": [e.context for e in examples],
    }


def write_jsonl(path: Path, columns: dict[str, list]) -> Path:
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------ predict_table
def test_predict_table_matches_reader_predict(tiny_reader) -> None:
    columns = squad_columns(12)
    answered = predict_table(columns, tiny_reader, top_k=3)
    expected = tiny_reader.predict(load_squad(V11)[:12], top_k=3)
    assert list(answered) == list(OUTPUT_COLUMNS)
    assert answered["id"] == columns["id"]
    for i, prediction in enumerate(expected):
        best = prediction.answers[0]
        assert (answered["answer"][i], answered["start"][i], answered["end"][i]) == (best.text, best.start, best.end)
        assert answered["score"][i] == pytest.approx(best.score, abs=1e-6)
        assert answered["no_answer_probability"][i] == pytest.approx(prediction.no_answer_probability, abs=1e-6)
        assert answered["answers"][i] == [a.to_dict() for a in prediction.answers]
        assert answered["error"][i] is None
        assert columns["context"][i][best.start : best.end] == best.text


def test_predict_table_takes_and_returns_arrow_and_passes_other_columns_through(tiny_reader) -> None:
    columns = {**squad_columns(5), "doc_id": [10, 11, 12, 13, 14]}
    answered = predict_table(pa.table(columns), tiny_reader)
    assert isinstance(answered, pa.Table)
    assert answered.column_names == [*OUTPUT_COLUMNS, "doc_id"]
    assert answered.column("doc_id").to_pylist() == columns["doc_id"]
    assert answered.select(list(OUTPUT_COLUMNS)).to_pydict() == predict_table(squad_columns(5), tiny_reader)


def test_a_bad_row_gets_an_error_and_the_others_are_answered_as_without_it(tiny_reader) -> None:
    columns = squad_columns(6)
    bad = {name: list(values) for name, values in columns.items()}
    for name, value in (("id", "bad-question"), ("question", "   "), ("context", columns["context"][0])):
        bad[name].insert(3, value)
    for name, value in (("id", "bad-context"), ("question", "What?"), ("context", None)):
        bad[name].append(value)
    answered = predict_table(bad, tiny_reader)
    assert answered["error"][3] == "question is empty: give a non-empty question"
    assert "context must be text" in answered["error"][7]
    for i in (3, 7):
        assert answered["answer"][i] is None and answered["answers"][i] == [] and answered["score"][i] is None
    good = predict_table(columns, tiny_reader)
    keep = [0, 1, 2, 4, 5, 6]
    for name in OUTPUT_COLUMNS:
        assert [answered[name][i] for i in keep] == good[name]
    assert pa.table(bad).num_rows == 8 and predict_table(pa.table(bad), tiny_reader).num_rows == 8


def test_a_missing_column_is_one_error_naming_it(tiny_reader) -> None:
    columns = squad_columns(2)
    del columns["context"]
    with pytest.raises(DataFileError, match="no 'context' column"):
        predict_table(columns, tiny_reader)


# ------------------------------------------------------------------ inputs
def test_squad_jsonl_and_parquet_inputs_give_the_same_rows(tmp_path: Path) -> None:
    columns = squad_columns()
    jsonl = write_jsonl(tmp_path / "q.jsonl", columns)
    parquet = tmp_path / "q.parquet"
    pq.write_table(pa.table(columns), parquet, row_group_size=7)  # chunks straddle row groups
    for source in (V11, jsonl, parquet):
        chunks = plan_chunks(source, rows_per_part=20)
        assert [c.rows for c in chunks] == [20, 20, 20, 20, 20, 5]
        assert chunks[1].name == f"{source.stem}-00001"
        rows = [read_chunk(c) for c in chunks]
        assert [i for r in rows for i in r["id"]] == columns["id"]
        assert [q for r in rows for q in r["question"]] == columns["question"]


def test_a_folder_of_parts_is_read_in_name_order(tmp_path: Path) -> None:
    columns = squad_columns(30)
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({k: v[10:] for k, v in columns.items()}), folder / "b.parquet")
    write_jsonl(folder / "a.jsonl", {k: v[:10] for k, v in columns.items()})
    (folder / "_SUCCESS").write_text("")
    chunks = plan_chunks(folder, rows_per_part=100)
    assert [c.name for c in chunks] == ["a-00000", "b-00000"]
    assert [i for c in chunks for i in read_chunk(c)["id"]] == columns["id"]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_missing_columns_are_named(tmp_path: Path, suffix: str) -> None:
    columns = {"id": ["1"], "query": ["Who?"]}
    path = tmp_path / f"q.{suffix}"
    write_jsonl(path, columns) if suffix == "jsonl" else pq.write_table(pa.table(columns), path)
    with pytest.raises(DataFileError, match=r"no 'question', 'context' column.*found: id, query"):
        plan_chunks(path)


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_an_input_without_rows_is_refused_by_name(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty.{suffix}"
    columns = {"id": [], "question": [], "context": []}
    if suffix == "jsonl":
        path.write_text("")
    else:
        pq.write_table(pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()}), path)
    with pytest.raises(DataFileError, match=rf"input {path} holds no questions"):
        plan_chunks(path)


# ------------------------------------------------------------------ spanqa predict into parts (local engine)
def predict(monkeypatch, capsys, model: Path, data: Path, out: Path, *args: str):
    return run_main(
        monkeypatch, capsys, "predict", str(data), "--out", str(out), "--model", str(model), "--no-progress", *args
    )


def test_local_parts_hold_the_same_answers_as_the_squad_file(monkeypatch, capsys, tiny_model_dir, tmp_path) -> None:
    code, _, err = predict(
        monkeypatch,
        capsys,
        tiny_model_dir,
        V11,
        tmp_path / "p.json",
        "--top-k",
        "3",
        "--nbest",
        str(tmp_path / "nbest.json"),
    )
    assert code == 0, err
    squad = json.loads((tmp_path / "p.json").read_text())
    nbest = json.loads((tmp_path / "nbest.json").read_text())
    for fmt in ("parquet", "jsonl"):
        out = tmp_path / f"parts-{fmt}"
        code, stdout, err = predict(
            monkeypatch,
            capsys,
            tiny_model_dir,
            V11,
            out,
            "--format",
            fmt,
            "--top-k",
            "3",
            "--rows-per-part",
            "40",
            "--rows-per-batch",
            "16",
        )
        assert code == 0, err
        assert "105 answers" in stdout
        assert sorted(p.name for p in out.glob(f"*.{fmt}")) == [f"squad-v1.1-dev-small-0000{i}.{fmt}" for i in range(3)]
        rows = read_parts(out)
        assert [r["id"] for r in rows] == question_ids(V11)
        assert {r["id"]: r["answer"] for r in rows} == squad
        for row in rows:
            assert [a["answer"] for a in row["answers"]] == [a["answer"] for a in nbest[row["id"]]]
            assert row["score"] == pytest.approx(nbest[row["id"]][0]["score"], abs=1e-6)
            assert row["error"] is None


def test_squad_output_from_a_jsonl_input(monkeypatch, capsys, tiny_model_dir, tmp_path) -> None:
    jsonl = write_jsonl(tmp_path / "q.jsonl", squad_columns())
    assert predict(monkeypatch, capsys, tiny_model_dir, V11, tmp_path / "a.json")[0] == 0
    assert predict(monkeypatch, capsys, tiny_model_dir, jsonl, tmp_path / "b.json")[0] == 0
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())


def test_a_rerun_skips_finished_parts_and_refuses_another_job(monkeypatch, capsys, tiny_model_dir, tmp_path) -> None:
    out = tmp_path / "parts"
    args = ("--rows-per-part", "30")
    assert predict(monkeypatch, capsys, tiny_model_dir, V11, out, *args)[0] == 0
    kept = out / "squad-v1.1-dev-small-00001.parquet"
    before = pq.read_table(kept)
    (out / "squad-v1.1-dev-small-00002.parquet").unlink()
    code, stdout, err = predict(monkeypatch, capsys, tiny_model_dir, V11, out, *args)
    assert code == 0, err
    assert "105 answers" in stdout and "30 answered now, 75 already there" in stdout
    assert pq.read_table(kept).equals(before)
    assert sorted(r["id"] for r in read_parts(out)) == sorted(question_ids(V11))
    code, _, err = predict(monkeypatch, capsys, tiny_model_dir, V11, out, "--rows-per-part", "50")
    assert_one_error_line(code, err, "another job", "rows_per_part")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "csv"], "--format must be"),
        (["--engine", "spark"], "--engine must be"),
        (["--nbest", "n.json"], "--nbest and --null-odds go with --format squad"),
        (["--rows-per-part", "0"], "rows_per_part"),
    ],
)
def test_bad_parts_options(monkeypatch, capsys, tiny_model_dir, tmp_path, args, message) -> None:
    code, _, err = predict(monkeypatch, capsys, tiny_model_dir, V11, tmp_path / "parts", *args)
    assert_one_error_line(code, err, message)


def test_a_missing_column_on_the_command_line(monkeypatch, capsys, tiny_model_dir, tmp_path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", {"id": ["1"], "question": ["Who?"], "text": ["Ada."]})
    code, _, err = predict(monkeypatch, capsys, tiny_model_dir, path, tmp_path / "parts")
    assert_one_error_line(code, err, "no 'context' column")


def test_engine_ray_without_ray_names_the_install(monkeypatch, capsys, tiny_model_dir, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what a missing package looks like to `import ray`
    code, _, err = predict(monkeypatch, capsys, tiny_model_dir, V11, tmp_path / "parts", "--engine", "ray")
    assert_one_error_line(code, err, 'pip install "spanqa[ray]"')
    assert not (tmp_path / "parts").exists()


@pytest.mark.slow
def test_a_local_job_killed_halfway_and_rerun_has_every_id_once(tiny_model_dir, tmp_path) -> None:
    out = tmp_path / "parts"
    command = [
        sys.executable,
        "-m",
        "spanqa",
        "predict",
        str(V11),
        "--out",
        str(out),
        "--model",
        str(tiny_model_dir),
        "--no-progress",
        "--rows-per-part",
        "5",
        "--batch-size",
        "1",
    ]
    driver = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.parquet"))) < 2 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = len(list(out.glob("*.parquet")))
    assert 2 <= finished < 21, "the driver should have been killed halfway"
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert f"{105 - 5 * finished:,} answered now" in result.stdout
    assert [r["id"] for r in read_parts(out)] == question_ids(V11)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary file is left behind"
    assert (out / JOB_FILE).exists()
