"""Temperature scaling: recovers a known temperature, and the CLI writes it into the model folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, flat, run_main
from paths import SQUAD_V1_SMALL, question_ids, write_squad2_heldout

from spanqa.data.squad import examples_to_squad
from spanqa.errors import InputError
from spanqa.evaluation.calibration import (
    best_threshold_keeping_has_answer_f1,
    fit_null_threshold_on_logits,
    fit_temperature,
    fit_temperature_on_logits,
)
from spanqa.evaluation.metrics import evaluate_squad, squad_metrics
from spanqa.inference.decode import WindowLogits
from spanqa.inference.reader import Reader
from spanqa.settings import ReaderSettings
from spanqa.types import Example, GoldAnswer, Query

WORDS = [f"w{i}" for i in range(12)]
CONTEXT = " ".join(WORDS)
TRUE_TEMPERATURE = 2.0


def word_logits(logits: np.ndarray, null: float = -50.0) -> list[WindowLogits]:
    """One window over CONTEXT whose model gave `logits` to its words (position 0, CLS, gets `null`)."""
    count = len(WORDS)
    mask = np.r_[False, np.ones(count, dtype=bool)]
    spans, position = [], 0
    for word in WORDS:
        spans.append((position, position + len(word)))
        position += len(word) + 1
    offsets = np.vstack([[0, 0], np.array(spans)])
    return [
        WindowLogits(
            start_logits=np.r_[null, logits],
            end_logits=np.zeros(count + 1),
            context_mask=mask,
            offsets=offsets,
            word_offsets=offsets,
            cls_index=0,
            context_index=0,
        )
    ]


@pytest.mark.slow  # about 13 s: 3,000 questions decoded at each temperature tried
def test_fit_recovers_the_temperature_the_answers_were_drawn_with() -> None:
    # Gold answers are drawn from softmax(logits / 2): the calibrated temperature is 2 by construction.
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(3000, len(WORDS)))
    probabilities = np.exp(logits / TRUE_TEMPERATURE)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    golds = [[WORDS[rng.choice(len(WORDS), p=row)]] for row in probabilities]
    queries = [Query(str(q), "which word?", (CONTEXT,)) for q in range(len(golds))]
    per_query = [word_logits(row) for row in logits]
    settings = ReaderSettings(max_answer_len=1)  # one-word spans: span logit = start logit
    fit = fit_temperature_on_logits(queries, per_query, golds, settings)
    assert fit.temperature == pytest.approx(TRUE_TEMPERATURE, rel=0.15)
    assert fit.questions == 3000
    assert fit.after.log_loss < fit.before.log_loss
    assert fit.after.expected_calibration_error < 0.03 < fit.before.expected_calibration_error
    assert fit.after.mean_score < fit.before.mean_score  # T > 1: the raw scores were over-confident


def questions_with_no_answer_logits(
    seed: int, answerable_null: float, unanswerable_null: float, spread: float, count: int = 400
) -> tuple[list[Example], list[Query], list[list[WindowLogits]]]:
    """Every other question unanswerable; the model's no-answer logit is drawn around `unanswerable_null`
    for those and around `answerable_null` for the rest, with `spread`: the halves overlap."""
    rng = np.random.default_rng(seed)
    examples, logits = [], []
    for q in range(count):
        unanswerable = q % 2 == 1
        word = int(rng.integers(len(WORDS)))
        row = np.full(len(WORDS), -5.0)
        row[word] = 5.0
        null = float(rng.normal(unanswerable_null if unanswerable else answerable_null, spread))
        answers = () if unanswerable else (GoldAnswer(WORDS[word], CONTEXT.index(WORDS[word])),)
        examples.append(Example(str(q), "which word?", CONTEXT, answers, is_impossible=unanswerable))
        logits.append(word_logits(row, null))
    return examples, [Query.from_example(e) for e in examples], logits


def test_the_no_answer_threshold_separates_unanswerable_questions_and_scores_f1_officially() -> None:
    examples, queries, logits = questions_with_no_answer_logits(
        seed=0, answerable_null=2.0, unanswerable_null=8.0, spread=2.0
    )
    fit = fit_null_threshold_on_logits(examples, queries, logits, ReaderSettings(max_answer_len=1))
    assert fit.questions == 400 and fit.unanswerable == 200
    assert 0.05 < fit.null_threshold < 0.95
    # the best threshold beats both extremes: always answering (F1 50) and never answering (F1 50)
    assert fit.f1 > 80 and fit.has_answer_f1 > 75 and fit.no_answer_f1 > 75


def test_a_floor_on_has_answer_f1_raises_the_threshold_to_the_best_that_keeps_it() -> None:
    examples, queries, logits = questions_with_no_answer_logits(
        seed=1, answerable_null=3.0, unanswerable_null=7.0, spread=2.5
    )
    settings = ReaderSettings(max_answer_len=1)
    best = fit_null_threshold_on_logits(examples, queries, logits, settings)
    assert best.min_has_answer_f1 is None
    floor = best.has_answer_f1 + 8.0
    kept = fit_null_threshold_on_logits(examples, queries, logits, settings, min_has_answer_f1=floor)
    assert kept.min_has_answer_f1 == floor
    assert kept.null_threshold > best.null_threshold
    assert kept.has_answer_f1 >= floor
    assert kept.f1 <= best.f1  # the floor costs overall F1: the unconstrained search already had the best


def test_the_floor_search_finds_the_best_official_f1_among_the_thresholds_that_keep_it() -> None:
    rng = np.random.default_rng(2)
    examples, predictions, na_probs = [], {}, {}
    for q in range(120):
        unanswerable = q % 2 == 1
        word = WORDS[q % len(WORDS)]
        answers = () if unanswerable else (GoldAnswer(word, CONTEXT.index(word)),)
        examples.append(Example(str(q), "which word?", CONTEXT, answers, is_impossible=unanswerable))
        predictions[str(q)] = word if rng.random() < 0.7 else WORDS[(q + 1) % len(WORDS)]
        na_probs[str(q)] = float(rng.beta(5, 2) if unanswerable else rng.beta(2, 5))
    dataset = examples_to_squad(examples, version="2.0")
    evaluation = evaluate_squad(dataset, predictions, na_probs)
    unconstrained = squad_metrics(dataset, predictions, na_probs, na_prob_thresh=evaluation.metrics["best_f1_thresh"])
    answer_all = squad_metrics(dataset, predictions, na_probs, na_prob_thresh=1.0)
    floor = (unconstrained["HasAns_f1"] + answer_all["HasAns_f1"]) / 2  # binds: the best F1 falls below it
    assert unconstrained["HasAns_f1"] < floor

    chosen = best_threshold_keeping_has_answer_f1(evaluation.questions, na_probs, floor)

    at = squad_metrics(dataset, predictions, na_probs, na_prob_thresh=chosen)
    assert at["HasAns_f1"] >= floor
    every_candidate = [
        squad_metrics(dataset, predictions, na_probs, na_prob_thresh=t) for t in sorted(set(na_probs.values()))
    ]
    best_kept = max(m["f1"] for m in every_candidate if m["HasAns_f1"] >= floor)
    assert at["f1"] == pytest.approx(best_kept)
    # a floor above what answering every question gives: no threshold keeps it, so answer everything
    assert best_threshold_keeping_has_answer_f1(evaluation.questions, na_probs, answer_all["HasAns_f1"] + 1) == 1.0


def test_too_few_answerable_questions(tiny_model_dir: Path) -> None:
    examples = [Example(str(i), "q?", CONTEXT) for i in range(500)]  # unanswerable: not usable
    with pytest.raises(InputError, match="at least 100 answerable questions"):
        fit_temperature(Reader.load(tiny_model_dir), examples)


def test_calibrate_command_writes_the_temperature_and_keeps_the_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    pair = [("Who wrote the first program?", "The first program was written by Ada Lovelace in 1843.")]
    before = Reader.load(folder).predict(pair, top_k=3)[0]
    code, out, err = run_main(
        monkeypatch, capsys, "calibrate", str(SQUAD_V1_SMALL), "--model", str(folder), "--write",
        "--out", str(tmp_path / "fit.json"), "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert f"temperature {fit['temperature']:g} fitted on {fit['questions']:,} questions" in out
    # a random model is almost never exactly right: calibration can only lower its scores
    assert fit["temperature"] > 1 and fit["after"]["mean_score"] < fit["before"]["mean_score"]
    assert json.loads((folder / "spanqa.json").read_text())["reader"]["temperature"] == fit["temperature"]
    calibrated = Reader.load(folder)
    assert calibrated.settings.temperature == fit["temperature"]
    after = calibrated.predict(pair, top_k=3)[0]
    assert [a.text for a in after.answers] == [a.text for a in before.answers]
    assert after.answers[0].score < before.answers[0].score


def test_calibrate_command_fits_the_no_answer_threshold_on_squad2_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    data = write_squad2_heldout(tmp_path / "heldout-v2.json")  # the same questions of other paragraphs too
    code, out, err = run_main(
        monkeypatch, capsys, "calibrate", str(data), "--model", str(folder), "--write",
        "--out", str(tmp_path / "fit.json"), "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    fit = json.loads((tmp_path / "fit.json").read_text())["null_threshold"]
    answerable = len(question_ids(SQUAD_V1_SMALL))
    assert fit["unanswerable"] == answerable and fit["questions"] == 2 * answerable
    assert f"no-answer threshold {fit['null_threshold']:.4g} fitted on {fit['questions']:,} questions" in out
    assert "temperature and no-answer threshold written" in out
    assert json.loads((folder / "spanqa.json").read_text())["reader"]["null_threshold"] == fit["null_threshold"]
    # F1 at the fitted threshold is at least what answering everything (F1 of the answerable half) gives
    assert fit["f1"] >= fit["has_answer_f1"] / 2


def test_calibrate_command_refuses_a_file_without_enough_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path
) -> None:
    small = tmp_path / "small.json"
    data = json.loads(SQUAD_V1_SMALL.read_text())
    data["data"] = data["data"][:1]
    data["data"][0]["paragraphs"] = data["data"][0]["paragraphs"][:1]
    small.write_text(json.dumps(data))
    code, out, err = run_main(monkeypatch, capsys, "calibrate", str(small), "--model", str(tiny_model_dir))
    assert_one_error_line(code, err, "calibration needs at least 100 answerable questions")
    assert out == ""


def test_calibrate_command_keeps_has_answer_f1_above_a_floor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path
) -> None:
    data = write_squad2_heldout(tmp_path / "heldout-v2.json")
    fits = {}
    for name, floor in (("best", ()), ("floor", ("--min-has-answer-f1", "0.5"))):
        code, out, err = run_main(
            monkeypatch, capsys, "calibrate", str(data), "--model", str(tiny_model_dir),
            "--out", str(tmp_path / f"{name}.json"), "--no-progress", *floor,
        )  # fmt: skip
        assert code == 0, err
        fits[name] = json.loads((tmp_path / f"{name}.json").read_text())["null_threshold"]
    assert fits["best"]["min_has_answer_f1"] is None and fits["floor"]["min_has_answer_f1"] == 0.5
    assert "the best that keeps has answer >= 0.5" in out
    assert fits["floor"]["null_threshold"] >= fits["best"]["null_threshold"]
    assert fits["floor"]["has_answer_f1"] >= min(0.5, fits["best"]["has_answer_f1"])


@pytest.mark.parametrize("floor", ["-1", "101"])
def test_calibrate_command_refuses_a_floor_that_is_no_percentage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, floor: str
) -> None:
    code, out, err = run_main(
        monkeypatch, capsys, "calibrate", str(SQUAD_V1_SMALL), "--model", str(tiny_model_dir),
        "--min-has-answer-f1", floor,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert "Invalid value for '--min-has-answer-f1'" in err and out == ""


def test_calibrate_command_refuses_a_floor_without_unanswerable_questions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path
) -> None:
    code, out, err = run_main(
        monkeypatch, capsys, "calibrate", str(SQUAD_V1_SMALL), "--model", str(tiny_model_dir),
        "--min-has-answer-f1", "70", "--no-progress",
    )  # fmt: skip
    assert_one_error_line(code, err, "needs unanswerable questions", "leave the floor out")
    assert out == ""


def test_calibrate_help_shows_an_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(monkeypatch, capsys, "calibrate", "--help")
    assert code == 0, err
    assert "Example: spanqa calibrate heldout-v1.1.json --model models/my-reader --write" in flat(out)
    assert "--write" in out and "--model" in out


def test_calibrate_writes_into_an_onnx_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path
) -> None:
    from spanqa.inference.runtime.onnx_export import export_onnx

    folder = export_onnx(tiny_model_dir, tmp_path / "onnx", int8=True).folder  # no torch weights in it
    code, out, err = run_main(
        monkeypatch, capsys, "calibrate", str(SQUAD_V1_SMALL), "--model", str(folder), "--write", "--no-progress"
    )
    assert code == 0, err
    assert "temperature written to" in out
    temperature = json.loads((Path(folder) / "spanqa.json").read_text())["reader"]["temperature"]
    assert Reader.load(folder).settings.temperature == temperature != 1.0
