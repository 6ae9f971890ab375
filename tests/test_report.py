"""The evaluation report: breakdowns, calibration, threshold curve, worst misses, HTML page."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from paths import SQUAD_V2_SMALL as V20

from spanqa.evaluation.metrics import evaluate_squad
from spanqa.evaluation.report import (
    answer_length_bucket,
    breakdown,
    build_report,
    calibration,
    context_length_bucket,
    first_reference_calibration,
    question_word,
    threshold_curve,
    worst_misses,
    write_report_json,
)


def dataset(questions: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    qas = [
        {"id": qid, "question": question, "answers": [{"text": t, "answer_start": 0} for t in answers]}
        for qid, question, answers in questions
    ]
    for qa in qas:
        qa["is_impossible"] = not qa["answers"]
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": "Paris is big.", "qas": qas}]}]}


FOUR = dataset(
    [
        ("q1", "What is the capital?", ["Paris"]),
        ("q2", "How many people live there?", ["two million people"]),
        ("q3", "Who <b>rules</b> Mars?", []),
        ("q4", "Name the river.", []),
    ]
)


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("What is it?", "what"),
        ("In what year did it end?", "what"),
        ("How many people live there?", "how many"),
        ("HOW  many?", "how many"),
        ("How did it end?", "how"),
        ("how", "how"),
        ("Whose idea was it?", "who"),
        ("To whom was it given?", "who"),
        ("Which team won?", "which"),
        ("When did it start?", "when"),
        ("Where is it?", "where"),
        ("Why did it fail?", "why"),
        ("Name the river.", "other"),
        ("Somewhat unclear", "other"),  # whole words only
    ],
)
def test_question_word(question: str, word: str) -> None:
    assert question_word(question) == word


def test_length_buckets() -> None:
    assert answer_length_bucket([]) == "no answer"
    assert answer_length_bucket(["  "]) == "no answer"
    assert answer_length_bucket(["two million people", "Paris"]) == "1"  # the shortest gold answer
    assert answer_length_bucket(["a b c d"]) == "4-5"
    assert answer_length_bucket([" ".join("w" * 11)]) == "11+"
    assert context_length_bucket("word " * 100) == "1-100"
    assert context_length_bucket("word " * 101) == "101-150"
    assert context_length_bucket("word " * 301) == "301+"


def test_breakdown_by_question_word() -> None:
    evaluation = evaluate_squad(FOUR, {"q1": "Paris", "q2": "two million", "q3": "", "q4": "Seine"})
    rows = breakdown(evaluation.questions, lambda q: question_word(q.question), ["what", "how many", "who", "other"])
    assert rows == [
        {"group": "what", "count": 1, "exact": 100.0, "f1": 100.0},
        {"group": "how many", "count": 1, "exact": 0.0, "f1": pytest.approx(80.0)},  # p 1, r 2/3
        {"group": "who", "count": 1, "exact": 100.0, "f1": 100.0},
        {"group": "other", "count": 1, "exact": 0.0, "f1": 0.0},
    ]


def test_calibration_by_hand() -> None:
    evaluation = evaluate_squad(FOUR, {"q1": "Paris", "q2": "Rome", "q3": "Mars", "q4": ""})
    # q1 right at 0.95, q4 right at 1.0 (bin 9: mean 0.975); q2 wrong at 0.85 (bin 8); q3 wrong at 0.05 (bin 0)
    result = calibration(evaluation.questions, {"q1": 0.95, "q2": 0.85, "q3": 0.05, "q4": 1.0})
    assert result["count"] == 4
    bins = {i: row for i, row in enumerate(result["bins"]) if row["count"]}
    assert sorted(bins) == [0, 8, 9]
    assert bins[9]["count"] == 2 and bins[9]["mean_score"] == pytest.approx(0.975) and bins[9]["exact_rate"] == 1.0
    assert bins[8]["exact_rate"] == 0.0
    assert result["expected_calibration_error"] == pytest.approx((2 * 0.025 + 0.85 + 0.05) / 4)
    assert calibration(evaluation.questions, {})["count"] == 0


def test_first_reference_calibration_judges_against_one_annotator() -> None:
    two_golds = dataset([("q1", "Who?", ["Ada Lovelace", "Lovelace"]), ("q2", "When?", ["1843", "in 1843"])])
    evaluation = evaluate_squad(two_golds, {"q1": "Lovelace", "q2": "1843"})
    scores = {"q1": 0.9, "q2": 0.9}
    assert calibration(evaluation.questions, scores)["bins"][9]["exact_rate"] == 1.0  # any reference counts
    one = first_reference_calibration(evaluation.questions, scores, "1.1")
    assert one["count"] == 2 and one["bins"][9]["exact_rate"] == 0.5  # "Lovelace" is not "Ada Lovelace"
    assert one["expected_calibration_error"] == pytest.approx(0.4)


def test_threshold_curve_by_hand() -> None:
    predictions = {"q1": "Paris", "q2": "Rome", "q3": "Mars", "q4": ""}
    evaluation = evaluate_squad(FOUR, predictions, {"q1": 0.2, "q2": 0.6, "q3": 0.6, "q4": 0.9})
    curve = threshold_curve(evaluation.questions, evaluation.na_probs or {})
    # t=0: all abstain -> q3, q4 right; t=0.2: +q1; t=0.6: +q2 (wrong), -q3; t=0.9: q4 answers "" (right)
    assert curve["thresholds"] == [0.0, 0.2, 0.6, 0.9]
    assert curve["exact"] == [50.0, 75.0, 50.0, 50.0]


def test_worst_misses_order_and_content() -> None:
    predictions = {"q1": "Paris", "q2": "two million", "q3": "Mars"}
    evaluation = evaluate_squad(FOUR, predictions)
    misses = worst_misses(evaluation.questions, limit=10, confidence={"q3": 0.9, "q2": 0.2})
    assert [m["id"] for m in misses] == ["q3", "q4", "q2"]  # F1 0 confident, F1 0 missing, then F1 0.8
    assert misses[1]["prediction"] is None
    assert worst_misses(evaluation.questions, limit=1)[0]["id"] == "q3"


def test_build_report_json(tmp_path: Path) -> None:
    evaluation = evaluate_squad(FOUR, {"q1": "Paris", "q2": "Rome", "q3": ""}, {"q1": 0.1, "q2": 0.7, "q3": 0.9})
    report = build_report(evaluation, {"q1": 0.9, "q2": 0.4, "q3": 0.8}, {"data": "dev.json"})
    for key in ("exact", "f1", "total", "HasAns_exact", "NoAns_total", "best_f1", "best_f1_thresh", "missing"):
        assert key in report
    assert report["missing"] == 1 and report["counts"]["answered"] == 3
    assert report["counts"]["has_answer"] == 2 and report["counts"]["empty_predictions"] == 1
    assert 0.0 <= report["expected_calibration_error"] <= 1.0
    assert {row["group"] for row in report["by_question_word"]} == {"what", "how many", "who", "other"}
    path = tmp_path / "out" / "report.json"
    write_report_json(path, report)
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    from spanqa.evaluation.report_html import write_report_html

    evaluation = evaluate_squad(
        FOUR, {"q1": "<script>alert(1)</script>", "q2": "Rome", "q3": "x"}, {"q1": 0.1, "q2": 0.5, "q3": 0.2}
    )
    report = build_report(evaluation, {"q1": 0.9, "q2": 0.4, "q3": 0.5}, {"data": "dev & test.json"})
    path = tmp_path / "report.html"
    write_report_html(path, evaluation, report)
    page = path.read_text(encoding="utf-8")
    for section in (
        "summary",
        "by-question-word",
        "by-answer-length",
        "by-context-length",
        "no-answer",
        "calibration",
        "worst-misses",
    ):
        assert f'<section id="{section}">' in page
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Who &lt;b&gt;rules&lt;/b&gt; Mars?" in page and "dev &amp; test.json" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)) >= 6


def test_html_without_probabilities_or_scores_on_the_fixture(tmp_path: Path) -> None:
    from spanqa.evaluation.report_html import render_html

    data = json.loads(V20.read_text())
    predictions = {qa["id"]: "" for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]}
    evaluation = evaluate_squad(data, predictions)
    page = render_html(evaluation, build_report(evaluation))
    assert '<section id="worst-misses">' in page
    assert '<section id="no-answer">' not in page and '<section id="calibration">' not in page


@pytest.mark.slow
def test_report_does_not_load_matplotlib() -> None:
    import subprocess

    code = (
        "import sys, spanqa.evaluation.report, spanqa.evaluation.metrics, spanqa.cli.evaluate; "
        "print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
