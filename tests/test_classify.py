"""spanqa.classify on tiny random classifiers (BERT, RoBERTa, DistilBERT): labels, batching, multi-label, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import run_main
from paths import SQUAD_V1_SMALL
from tiny_model import build_tiny_classifier

from spanqa.classify import Classifier
from spanqa.classify.labels import probabilities, ranked_labels, softmax
from spanqa.errors import DataFileError, InputError, ModelFolderError

TEXTS = [
    "Super Bowl 50 was an American football game.",
    ("Which team won?", "The Denver Broncos defeated the Carolina Panthers 24-10 to earn their third title."),
    "short",
    "Warsaw " * 40,
]


@pytest.fixture(scope="module", params=["bert", "roberta", "distilbert"])
def tiny_classifier_dir(request, tmp_path_factory):
    labels = ("sports", "city", "history")
    return build_tiny_classifier(tmp_path_factory.mktemp("cls") / request.param, labels, request.param, dropout=0.0)


@pytest.fixture(scope="module")
def multi_label_dir(tmp_path_factory):
    return build_tiny_classifier(tmp_path_factory.mktemp("cls") / "multi", ("a", "b", "c", "d"), multi_label=True)


def test_labels_come_from_id2label_best_first(tiny_classifier_dir):
    classifier = Classifier.load(tiny_classifier_dir)
    config = json.loads((tiny_classifier_dir / "config.json").read_text())
    results = classifier.classify(TEXTS)
    assert len(results) == len(TEXTS)
    for labels in results:
        assert sorted(x.label for x in labels) == sorted(config["id2label"].values())
        scores = [x.score for x in labels]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0)
    assert [len(x) for x in classifier.classify(TEXTS, top_k=1)] == [1] * len(TEXTS)


def test_batch_equals_single(tiny_classifier_dir):
    classifier = Classifier.load(tiny_classifier_dir)
    batched = classifier.run(TEXTS, batch_size=4)
    for index, item in enumerate(TEXTS):
        alone = classifier.run([item], batch_size=1)
        np.testing.assert_allclose(alone.probabilities[0], batched.probabilities[index], atol=1e-4)
        np.testing.assert_allclose(alone.logits[0], batched.logits[index], atol=1e-4)


def test_plain_transformers_folder_loads_and_matches_transformers(tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = build_tiny_classifier(tmp_path / "plain", ("no", "yes"), with_spanqa_file=False)
    classifier = Classifier.load(folder)
    run = classifier.run(TEXTS[:2])
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.inference_mode():
        expected = model(**tokenizer(TEXTS[0], return_tensors="pt")).logits[0].numpy()
        expected_pair = model(**tokenizer(*TEXTS[1], return_tensors="pt")).logits[0].numpy()
    np.testing.assert_allclose(run.logits[0], expected, atol=1e-5)
    np.testing.assert_allclose(run.logits[1], expected_pair, atol=1e-5)


def test_long_texts_truncate_or_average(tiny_classifier_dir):
    classifier = Classifier.load(tiny_classifier_dir, max_seq_len=32)
    long_text = " ".join(["Normandy was named after the Normans."] * 30)
    truncated = classifier.run([long_text])
    averaged = classifier.run([long_text], long_text="average", stride=8)
    assert len(truncated.windows) == 1 and truncated.windows[0].length <= 32
    assert len(averaged.windows) > 1
    assert averaged.probabilities.shape == truncated.probabilities.shape
    assert not np.allclose(averaged.logits, truncated.logits)


def test_average_of_windows():
    from spanqa.classify.inputs import TextWindow
    from spanqa.classify.stages import item_logits

    windows = [TextWindow(i, np.zeros(1), np.zeros(1), ()) for i in (0, 0, 1)]
    logits = np.array([[1.0, 3.0], [3.0, 5.0], [7.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(item_logits(windows, logits, 2), [[2.0, 4.0], [7.0, 0.0]])


def test_softmax_and_sigmoid_on_hand_built_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(softmax(logits)[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(probabilities(logits, "multi_label_classification")[1], [0.5, 0.5, 0.5])
    probs = probabilities(np.array([2.0, -2.0, 0.1]), "multi_label_classification")
    chosen = ranked_labels(probs, {0: "a", 1: "b", 2: "c"}, "multi_label_classification", threshold=0.5)
    assert [x.label for x in chosen] == ["a", "c"]
    assert ranked_labels(probs, {0: "a", 1: "b", 2: "c"}, "multi_label_classification", threshold=0.99) == []


def test_multi_label_thresholding(multi_label_dir):
    classifier = Classifier.load(multi_label_dir)
    assert classifier.multi_label
    run = classifier.run(TEXTS, threshold=0.0)
    sigmoid = 1 / (1 + np.exp(-run.logits.astype(np.float64)))
    np.testing.assert_allclose(run.probabilities, sigmoid, atol=1e-9)
    assert all(len(labels) == 4 for labels in run.labels)  # threshold 0 keeps every label
    threshold = float(np.median(run.probabilities[0]))
    kept = classifier.classify([TEXTS[0]], threshold=threshold)[0]
    assert {x.label for x in kept} == {
        classifier.id2label[i] for i, p in enumerate(run.probabilities[0]) if p >= threshold
    }
    assert classifier.classify([TEXTS[0]], threshold=1.0)[0] == []


def test_bad_input_is_one_clear_error(tiny_classifier_dir, tiny_model_dir):
    classifier = Classifier.load(tiny_classifier_dir)
    with pytest.raises(InputError, match=r"texts\[1\] is empty"):
        classifier.classify(["fine", "   "])
    with pytest.raises(InputError, match="no texts"):
        classifier.classify([])
    with pytest.raises(InputError, match="top_k"):
        classifier.classify("x", top_k=0)
    with pytest.raises(ModelFolderError, match="question-answering model, not a text classifier"):
        Classifier.load(tiny_model_dir)
    from spanqa.inference.reader import Reader

    with pytest.raises(ModelFolderError, match=r"is a text classifier.*spanqa classify"):
        Reader.load(tiny_classifier_dir)


def test_cli_classify_json_and_errors(monkeypatch, capsys, tiny_classifier_dir, tiny_model_dir, tmp_path):
    code, out, _ = run_main(monkeypatch, capsys, "classify", "--model", str(tiny_classifier_dir), "a", "b", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["text"] for row in rows] == ["a", "b"] and len(rows[0]["labels"]) == 3
    csv_file = tmp_path / "texts.csv"
    csv_file.write_text("question,paragraph\nWho?,Ada wrote it.\n", encoding="utf-8")
    args = ("classify", "--model", str(tiny_classifier_dir), "--file", str(csv_file), "--json")
    code, out, _ = run_main(monkeypatch, capsys, *args, "--text-column", "question", "--text-pair-column", "paragraph")
    assert code == 0 and json.loads(out)["text_pair"] == "Ada wrote it."
    code, _, err = run_main(monkeypatch, capsys, *args, "--text-column", "missing")
    assert code == 2 and "no column 'missing'" in err and "Traceback" not in err
    code, _, err = run_main(monkeypatch, capsys, "classify", "--model", str(tiny_classifier_dir), "")
    assert code == 2 and "empty" in err
    code, _, err = run_main(monkeypatch, capsys, "classify", "--model", str(tiny_model_dir), "text")
    assert code == 2 and "question-answering model, not a text classifier" in err
    ask = ("ask", "--model", str(tiny_classifier_dir), "-q", "Who?", "--context", "Ada.")
    code, _, err = run_main(monkeypatch, capsys, *ask)
    assert code == 2 and "is a text classifier" in err and "Traceback" not in err


def test_explain_prints_the_numbers_of_the_run(monkeypatch, capsys, tiny_classifier_dir):
    classifier = Classifier.load(tiny_classifier_dir)
    texts = ["Super Bowl 50 was a game.", "short"]
    run = classifier.run(texts)
    code, out, _ = run_main(
        monkeypatch, capsys, "classify", "--model", str(tiny_classifier_dir), *texts, "--explain", "--json"
    )
    assert code == 0
    explanation = json.loads(out)
    np.testing.assert_allclose(explanation["logits"], run.logits, atol=1e-6)
    np.testing.assert_allclose(explanation["probabilities"], run.probabilities, atol=1e-9)
    assert explanation["id2label"] == {str(i): label for i, label in classifier.id2label.items()}
    [batch] = explanation["batches"]
    assert [sum(row) for row in batch["attention_mask"]] == [w.length for w in run.windows]
    assert batch["input_ids"][0][: run.windows[0].length] == run.windows[0].input_ids.tolist()
    assert explanation["texts"][0]["windows"][0]["tokens"] == list(run.windows[0].tokens)
    code, text, _ = run_main(monkeypatch, capsys, "classify", "--model", str(tiny_classifier_dir), *texts, "--explain")
    assert code == 0
    for row in (0, 1):
        assert "[" + ", ".join(f"{v:.6f}" for v in run.logits[row]) + "]" in text
        assert "[" + ", ".join(f"{v:.6f}" for v in run.probabilities[row]) + "]" in text
    assert "attention_mask" in text and " ".join(run.windows[0].tokens) in text


def test_evaluate_classify_reports_metrics(monkeypatch, capsys, tiny_classifier_dir, tmp_path):
    data = tmp_path / "labelled.jsonl"
    rows = [{"text": f"text number {i}", "label": ["sports", "city", "history"][i % 3]} for i in range(9)]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out, html = tmp_path / "report.json", tmp_path / "report.html"
    code, _, err = run_main(
        monkeypatch, capsys, "evaluate", "--task", "classify", str(data), "--model", str(tiny_classifier_dir),
        "--out", str(out), "--html", str(html),
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["total"] == 9 and sum(map(sum, metrics["confusion_matrix"])) == 9
    assert set(metrics["per_class"]) == {"sports", "city", "history"}
    assert 'id="confusion-matrix"' in html.read_text() and "data:image/png;base64" in html.read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "label": "weather"}), encoding="utf-8")
    code, _, err = run_main(
        monkeypatch, capsys, "evaluate", "--task", "classify", str(bad), "--model", str(tiny_classifier_dir)
    )
    assert code == 2 and "'weather'" in err and "does not know" in err
    code, _, err = run_main(monkeypatch, capsys, "evaluate", "--task", "classify", str(SQUAD_V1_SMALL), "--model",
                            str(tiny_classifier_dir))  # fmt: skip
    assert code == 2 and ".jsonl or .csv" in err


def test_data_file_errors(tmp_path):
    from spanqa.classify.data import read_labelled

    path = tmp_path / "x.csv"
    path.write_text("text,label\nhello,\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="column 'label' is empty"):
        read_labelled(path, "text", "label")
