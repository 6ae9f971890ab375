"""Temperature scaling: recovers a known temperature, and the CLI writes it into the model folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_main

from spanqa.calibration import fit_temperature
from spanqa.decode import WindowLogits
from spanqa.errors import InputError
from spanqa.reader import Reader
from spanqa.settings import ReaderSettings
from spanqa.types import Example, GoldAnswer

FIXTURE = Path(__file__).parent / "fixtures" / "squad-v1.1-dev-small.json"

WORDS = [f"w{i}" for i in range(12)]
CONTEXT = " ".join(WORDS)
TRUE_TEMPERATURE = 2.0


class LogitsReader:
    """Stands in for a Reader whose model gave `logits[q]` to question q's context words."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits
        self.settings = ReaderSettings(max_answer_len=1)  # one-word spans: span logit = start logit

    def _logits_per_query(self, queries, settings, batch_size, progress=False):
        count = len(WORDS)
        mask = np.r_[False, np.ones(count, dtype=bool)]  # position 0 is CLS
        spans, position = [], 0
        for word in WORDS:
            spans.append((position, position + len(word)))
            position += len(word) + 1
        offsets = np.vstack([[0, 0], np.array(spans)])
        return [
            [
                WindowLogits(
                    start_logits=np.r_[-50.0, self.logits[int(query.id)]],
                    end_logits=np.zeros(count + 1),
                    context_mask=mask,
                    offsets=offsets,
                    word_offsets=offsets,
                    cls_index=0,
                    context_index=0,
                )
            ]
            for query in queries
        ]


def test_fit_recovers_the_temperature_the_answers_were_drawn_with() -> None:
    # Gold answers are drawn from softmax(logits / 2): the calibrated temperature is 2 by construction.
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(3000, len(WORDS)))
    probabilities = np.exp(logits / TRUE_TEMPERATURE)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    examples = []
    for q, row in enumerate(probabilities):
        gold = WORDS[rng.choice(len(WORDS), p=row)]
        examples.append(Example(str(q), "which word?", CONTEXT, (GoldAnswer(gold, CONTEXT.index(gold)),)))
    fit = fit_temperature(LogitsReader(logits), examples)  # type: ignore[arg-type]
    assert fit.temperature == pytest.approx(TRUE_TEMPERATURE, rel=0.15)
    assert fit.questions == 3000
    assert fit.after.log_loss < fit.before.log_loss
    assert fit.after.expected_calibration_error < 0.03 < fit.before.expected_calibration_error
    assert fit.after.mean_score < fit.before.mean_score  # T > 1: the raw scores were over-confident


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
        monkeypatch, capsys, "calibrate", str(FIXTURE), "--model", str(folder), "--write",
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


def test_calibrate_command_refuses_a_file_without_enough_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path, tmp_path: Path
) -> None:
    small = tmp_path / "small.json"
    data = json.loads(FIXTURE.read_text())
    data["data"] = data["data"][:1]
    data["data"][0]["paragraphs"] = data["data"][0]["paragraphs"][:1]
    small.write_text(json.dumps(data))
    code, out, err = run_main(monkeypatch, capsys, "calibrate", str(small), "--model", str(tiny_model_dir))
    assert code == 2 and out == ""
    assert "calibration needs at least 100 answerable questions" in err and "Traceback" not in err
