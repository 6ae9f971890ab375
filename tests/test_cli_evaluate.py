"""`spanqa evaluate`: happy paths, the --model path with a fake reader, and one line per bad input."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_one_error_line, run_main, run_process
from paths import SQUAD_V1_SMALL as V11
from paths import SQUAD_V2_SMALL as V20
from paths import question_ids

from spanqa.evaluation.metrics import squad_metrics


def gold_predictions(path: Path) -> dict[str, str]:
    """The first gold answer, every third one cut to its last word; "" for unanswerable questions."""
    data = json.loads(path.read_text())
    predictions = {}
    for index, qa in enumerate(qa for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]):
        text = qa["answers"][0]["text"] if qa["answers"] else ""
        predictions[qa["id"]] = text.split()[-1] if index % 3 == 0 and text else text
    return predictions


def write_json(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_help_has_an_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run_main(monkeypatch, capsys, "evaluate", "--help")
    assert code == 0
    assert "--na-probs" in stdout and "spanqa evaluate dev-v1.1.json predictions.json" in stdout


def v20_arguments(tmp_path: Path) -> list[str]:
    """evaluate's arguments for a v2.0 run with probabilities, a threshold, a JSON report and a page."""
    predictions = write_json(tmp_path / "preds.json", gold_predictions(V20))
    ids = question_ids(V20)
    na_probs = write_json(tmp_path / "na.json", {qid: (i % 4) / 4 for i, qid in enumerate(ids)})
    out, page = tmp_path / "reports" / "report.json", tmp_path / "report.html"
    return [
        "evaluate", str(V20), str(predictions), "--na-probs", str(na_probs), "--na-prob-thresh", "0.6",
        "--out", str(out), "--html", str(page),
    ]  # fmt: skip


def test_v20_end_to_end(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, stdout, stderr = run_main(monkeypatch, capsys, *v20_arguments(tmp_path))
    assert code == 0, stderr
    predictions, na_probs = tmp_path / "preds.json", tmp_path / "na.json"
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    expected = squad_metrics(
        json.loads(V20.read_text()), json.loads(predictions.read_text()), json.loads(na_probs.read_text()), 0.6
    )
    assert {key: report[key] for key in expected} == expected
    assert report["sources"]["predictions"] == str(predictions)
    assert "HasAns" not in stdout  # the table uses plain words
    assert "has answer" in stdout and "missing predictions: 0 of 48" in stdout
    assert f"{report['exact']:.2f}" in stdout and f"{report['best_f1']:.2f}" in stdout
    html_page = (tmp_path / "report.html").read_text()
    assert '<section id="no-answer">' in html_page and "https://" not in html_page


def test_v11_with_missing_predictions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    predictions = gold_predictions(V11)
    for qid in list(predictions)[:5]:
        del predictions[qid]
    path = write_json(tmp_path / "preds.json", predictions)
    out = tmp_path / "report.json"
    code, stdout, stderr = run_main(monkeypatch, capsys, "evaluate", str(V11), str(path), "--out", str(out))
    assert code == 0, stderr
    report = json.loads(out.read_text())
    assert report["version"] == "1.1" and report["missing"] == 5 and report["total"] == 105
    assert "missing predictions: 5 of 105 (scored 0)" in stdout
    assert not (tmp_path / "report.html").exists()


class FakeReader:
    """Stands in for spanqa.inference.reader.Reader: answers with the first gold answer, or the no-answer."""

    loaded_from: Path | None = None

    @classmethod
    def load(cls, path: Path, **options: Any) -> FakeReader:
        cls.loaded_from = Path(path)
        return cls()

    def predict(self, examples: list[Any], batch_size: int = 32, progress: bool = False, **settings: Any) -> list[Any]:
        from spanqa.types import Answer, Prediction

        results = []
        for index, example in enumerate(examples):
            if example.answers and index % 4:
                gold = example.answers[0]
                best = Answer(gold.text, gold.start, gold.start + len(gold.text), 0.9)
                answers = (best, Answer("", 0, 0, 0.1))
                na_prob = 0.1
            else:
                answers = (Answer("", 0, 0, 0.7), Answer("x", 0, 1, 0.3))
                na_prob = 0.7
            results.append(Prediction(example.id, answers, na_prob))
        return results


def test_model_path_predicts_scores_and_writes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "spanqa.inference.reader", types.SimpleNamespace(Reader=FakeReader))
    predictions_out, out, page = tmp_path / "preds.json", tmp_path / "report.json", tmp_path / "report.html"
    code, stdout, stderr = run_main(
        monkeypatch, capsys, "evaluate", str(V20), "--model", str(tmp_path / "model"),
        "--predictions-out", str(predictions_out), "--out", str(out), "--html", str(page),
    )  # fmt: skip
    assert code == 0, stderr
    assert FakeReader.loaded_from == tmp_path / "model"
    predictions = json.loads(predictions_out.read_text())
    assert set(predictions) == set(question_ids(V20))
    report = json.loads(out.read_text())
    ids = question_ids(V20)
    na_probs = {qid: 0.7 if predictions[qid] == "" else 0.1 for qid in ids}
    expected = squad_metrics(json.loads(V20.read_text()), predictions, na_probs)
    assert {key: report[key] for key in expected} == expected
    assert report["sources"]["model"] == str(tmp_path / "model")
    calibration = report["calibration"]
    assert calibration["count"] == 48 and sum(row["count"] for row in calibration["bins"]) == 48
    assert report["expected_calibration_error"] == calibration["expected_calibration_error"] >= 0
    assert '<section id="calibration">' in page.read_text()
    assert "predictions written to" in stdout


def test_model_path_with_a_real_reader_matches_its_predictions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model_dir: Path
) -> None:
    from spanqa.data import load_squad
    from spanqa.inference.reader import Reader

    predictions_out, out = tmp_path / "preds.json", tmp_path / "report.json"
    code, _, stderr = run_main(
        monkeypatch, capsys, "evaluate", str(V20), "--model", str(tiny_model_dir),
        "--predictions-out", str(predictions_out), "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    results = Reader.load(tiny_model_dir).predict(load_squad(V20), handle_impossible_answer=True)
    assert json.loads(predictions_out.read_text()) == {r.example_id: r.best_text for r in results}
    expected = squad_metrics(
        json.loads(V20.read_text()),
        {r.example_id: r.best_text for r in results},
        {r.example_id: r.no_answer_probability for r in results},
    )
    report = json.loads(out.read_text())
    assert report["f1"] == pytest.approx(expected["f1"]) and report["best_f1"] == pytest.approx(expected["best_f1"])


def test_model_path_on_v11_data_ignores_no_answer_probabilities(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "spanqa.inference.reader", types.SimpleNamespace(Reader=FakeReader))
    out = tmp_path / "report.json"
    code, _, stderr = run_main(monkeypatch, capsys, "evaluate", str(V11), "--model", "m", "--out", str(out))
    assert code == 0, stderr
    report = json.loads(out.read_text())
    assert report["version"] == "1.1" and "best_f1" not in report and "calibration" in report


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, a piece of the expected error message)."""
    ids = question_ids(V20)
    good = write_json(tmp_path / "good.json", gold_predictions(V20))
    not_json = tmp_path / "broken.json"
    not_json.write_text('{"a": ', encoding="utf-8")
    return {
        "data not squad": ([str(write_json(tmp_path / "d.json", {"articles": []})), str(good)], "no 'data' field"),
        "data missing": ([str(tmp_path / "nope.json"), str(good)], "does not exist"),
        "predictions empty": ([str(V20), str(write_json(tmp_path / "e.json", {}))], "holds no predictions"),
        "predictions not json": ([str(V20), str(not_json)], "is not valid JSON (line 1"),
        "predictions a list": ([str(V20), str(write_json(tmp_path / "l.json", ["a"]))], "should be a JSON object"),
        "prediction not text": (
            [str(V20), str(write_json(tmp_path / "n.json", {ids[0]: {"text": "x"}}))],
            f"the entry for id '{ids[0]}' should be a string",
        ),
        "unknown ids with --strict": (
            [
                str(V20),
                str(write_json(tmp_path / "u.json", {**gold_predictions(V20), "zz1": "a", "zz2": "b"})),
                "--strict",
            ],
            "2 id(s) that match no question of the data file: 'zz1', 'zz2'",
        ),
        "unknown na probs ids with --strict": (
            [
                str(V20),
                str(good),
                "--na-probs",
                str(write_json(tmp_path / "un.json", {**dict.fromkeys(ids, 0.5), "zz9": 0.5})),
                "--strict",
            ],
            "1 id(s) that match no question of the data file: 'zz9'",
        ),
        "na probs out of range": (
            [str(V20), str(good), "--na-probs", str(write_json(tmp_path / "r.json", dict.fromkeys(ids, 1.5)))],
            "probabilities lie between 0 and 1",
        ),
        "na probs not numbers": (
            [str(V20), str(good), "--na-probs", str(write_json(tmp_path / "s.json", dict.fromkeys(ids, "0.5")))],
            "should be a number, got a string",
        ),
        "na probs missing ids": (
            [str(V20), str(good), "--na-probs", str(write_json(tmp_path / "m.json", dict.fromkeys(ids[:40], 0.5)))],
            "no probability for 8 question(s)",
        ),
        "na probs on v11": (
            [
                str(V11),
                str(write_json(tmp_path / "g.json", gold_predictions(V11))),
                "--na-probs",
                str(write_json(tmp_path / "v.json", dict.fromkeys(question_ids(V11), 0.5))),
            ],
            "SQuAD v2.0 data only",
        ),
        "both": ([str(V20), str(good), "--model", "m"], "not both"),
        "neither": ([str(V20)], "give a PREDICTIONS file, or --model"),
        "predictions out without model": ([str(V20), str(good), "--predictions-out", "x.json"], "needs --model"),
        "thresh without probs": ([str(V20), str(good), "--na-prob-thresh", "0.5"], "needs --na-probs"),
    }


CASES = [
    "data not squad",
    "data missing",
    "predictions empty",
    "predictions not json",
    "predictions a list",
    "prediction not text",
    "unknown ids with --strict",
    "unknown na probs ids with --strict",
    "na probs out of range",
    "na probs not numbers",
    "na probs missing ids",
    "na probs on v11",
    "both",
    "neither",
    "predictions out without model",
    "thresh without probs",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args, message = bad_inputs(tmp_path)[case]
    out = tmp_path / "report.json"
    code, stdout, stderr = run_main(monkeypatch, capsys, "evaluate", *args, "--out", str(out))
    assert_one_error_line(code, stderr, message)
    assert "Traceback" not in stdout
    assert not out.exists()


@pytest.mark.slow
def test_good_and_bad_input_in_a_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`python -m spanqa evaluate` writes what the in-process command writes, and fails in one line."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    code, _, stderr = run_main(monkeypatch, capsys, *v20_arguments(here))
    assert code == 0, stderr
    result = run_process(*v20_arguments(there))
    assert result.returncode == 0, result.stderr
    assert "missing predictions: 0 of 48" in result.stdout
    reports = [json.loads((root / "reports" / "report.json").read_text()) for root in (here, there)]
    for report in reports:
        assert report.pop("sources")["predictions"].endswith("preds.json")
    assert reports[0] == reports[1] and reports[0]["total"] == 48
    assert (there / "report.html").exists()
    bad = write_json(tmp_path / "preds.json", {"zz": "a"})
    result = run_process("evaluate", str(V11), str(bad), "--strict")
    assert_one_error_line(result.returncode, result.stderr, "match no question")
