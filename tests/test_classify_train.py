"""`spanqa train --task classify` on the reader's training loop, and `spanqa export` of a classifier (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run_main
from tiny_model import MINILM_DIR, build_tiny_classifier

from spanqa.classify import Classifier

pytestmark = pytest.mark.slow

ROWS = [("the match ended with a late goal", "sports"), ("the old town hall stands by the river", "city")] * 12


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "train.csv"
    path.write_text("sentence,topic\n" + "".join(f"{t},{label}\n" for t, label in ROWS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_csv):
    base = build_tiny_classifier(tmp_path_factory.mktemp("base") / "tiny", ("x", "y", "z"), dropout=0.0)
    out = tmp_path_factory.mktemp("runs") / "topic"
    from spanqa.training.config import TrainConfig
    from spanqa.training.loop import train

    config = TrainConfig(
        base=str(base), train_files=(str(small_csv),), out=str(out), task="classify", text_column="sentence",
        label_column="topic", eval_file=str(small_csv), epochs=15, batch_size=8, lr=3e-3, max_seq_len=32,
        log_every=1, save_every=5, progress=False,
    )  # fmt: skip
    summary = train(config, echo=lambda _: None)
    return out, summary


def test_training_reduces_the_loss_and_saves_a_transformers_folder(trained):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out, summary = trained
    assert summary["stopped"] is False and summary["step"] == summary["total_steps"]
    losses = [
        r["loss"] for r in map(json.loads, (out / "logs" / "train_log.jsonl").read_text().splitlines()) if "loss" in r
    ]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert json.loads((out / "spanqa.json").read_text())["task"] == "classify"
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert model.config.id2label == {0: "city", 1: "sports"}
    tokenizer = AutoTokenizer.from_pretrained(out)
    classifier = Classifier.load(out, backend="torch")
    texts = [t for t, _ in ROWS[:2]]
    with torch.inference_mode():
        expected = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(classifier.run(texts).logits, expected, atol=1e-5)
    assert [labels[0].label for labels in classifier.classify(texts)] == ["sports", "city"]
    assert (out / "best" / "config.json").exists() and list((out / "checkpoints").iterdir())


def test_bad_training_input_is_one_clear_error(trained, small_csv, monkeypatch, capsys, tmp_path):
    out, _ = trained
    args = ["train", "--task", "classify", "--base", str(out), "--train", str(small_csv), "--out", str(tmp_path / "o"),
            "--text-column", "sentence", "--label-column", "text", "--no-progress"]  # fmt: skip
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "no column 'text'" in err and "Traceback" not in err
    code, _, err = run_main(monkeypatch, capsys, "train", "--task", "classify", "--base", str(MINILM_DIR),
                            "--train", str(small_csv), "--out", str(out / "x"))  # fmt: skip
    assert code == 2 and "--text-column and --label-column" in err


def test_onnx_export_of_a_classifier_gives_the_same_labels(trained, tmp_path, monkeypatch, capsys):
    out, _ = trained
    texts = [t for t, _ in ROWS[:2]] + ["a river and a goal"]
    torch_run = Classifier.load(out, backend="torch").run(texts)
    for int8 in (False, True):
        target = tmp_path / ("int8" if int8 else "fp32")
        code, _, err = run_main(
            monkeypatch, capsys, "export", str(out), "--onnx", str(target), *(["--int8"] if int8 else [])
        )
        assert code == 0, err
        onnx = Classifier.load(target)
        assert onnx.runtime.precision == ("int8" if int8 else "fp32")
        run = onnx.run(texts)
        assert [labels[0].label for labels in run.labels] == [labels[0].label for labels in torch_run.labels]
        if not int8:
            np.testing.assert_allclose(run.logits, torch_run.logits, atol=1e-3)
