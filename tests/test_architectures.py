"""Encoders other than BERT: a RoBERTa-style model (byte-level BPE, <s>/</s>, no segment ids) and a
DistilBERT-style one (takes no token_type_ids), through load, ask, predict, train and ONNX export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_main, run_process
from paths import SQUAD_V1_SMALL, question_ids
from tiny_model import build_tiny_model

from spanqa.inference.features import encode_windows, pad_windows
from spanqa.inference.reader import Reader
from spanqa.settings import ReaderSettings

NEW = ["roberta", "distilbert"]
QUESTION = "Who wrote the first program?"
CONTEXT = "The first program was written by Ada Lovelace in 1843, for the Analytical Engine of Charles Babbage."
UNICODE_CONTEXT = "Ada Lovelace, née Byron, wrote it in Zürich — “quoted” café, 東京 and naïve e\u0301 text…  twice."
LONG_CONTEXT = " ".join(f"Sentence {i} is about item{i} from town{i}." for i in range(40))
SMALL_WINDOWS = {"max_seq_len": 64, "doc_stride": 16, "max_question_len": 16}
SINGLE_WINDOW_PAIRS = [
    (QUESTION, CONTEXT),
    ("Who wrote it?", "The first program was written by Ada Lovelace in 1843."),
    ("Where is the bridge?", "The old bridge stands in the north of the town, near the river."),
    ("Which team won?", "The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third title."),
]
SPECIAL_TOKENS = {"roberta": ("<s>", ["</s>", "</s>"], "</s>"), "distilbert": ("[CLS]", ["[SEP]"], "[SEP]")}


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_model_dir: Path) -> dict[str, Path]:
    """{architecture: linear-head model folder}: the shared tiny BERT and a tiny RoBERTa and DistilBERT."""
    root = tmp_path_factory.mktemp("architectures")
    built = {name: build_tiny_model(root / name, architecture=name) for name in NEW}
    return {"bert": tiny_model_dir, **built}


def assert_exact_spans(answers, context: str) -> None:
    for answer in answers:
        assert context[answer.start : answer.end] == answer.text, answer
        assert answer.text == answer.text.strip() != "", answer
        assert 0.0 <= answer.score <= 1.0
    scores = [a.score for a in answers]
    assert scores == sorted(scores, reverse=True)


def spans(answers) -> list[tuple[str, int, int]]:
    return [(a.text, a.start, a.end) for a in answers]


@pytest.mark.parametrize("name", NEW)
def test_the_folders_are_built_the_way_their_architecture_works(folders: dict[str, Path], name: str) -> None:
    """Guards the other tests of this module: each folder really is the architecture it is named after."""
    assert json.loads((folders[name] / "config.json").read_text())["model_type"] == name
    assert (folders[name] / "tokenizer.json").exists()
    reader = Reader.load(folders[name])
    (window,) = encode_windows(reader.tokenizer, [QUESTION], [CONTEXT], reader.settings)
    tokens = reader.tokenizer.convert_ids_to_tokens(window.input_ids.tolist())
    first, between, last = SPECIAL_TOKENS[name]
    first_context = int(np.flatnonzero(window.context_mask)[0])
    assert (tokens[0], tokens[-1], window.cls_index) == (first, last, 0)
    assert tokens[first_context - len(between) : first_context] == between
    if name == "roberta":
        assert window.token_type_ids is None or not window.token_type_ids.any()  # type_vocab_size is 1
        assert "Ġ" in "".join(tokens)  # byte-level BPE marks a leading space
    else:
        assert not reader.runtime.model.accepts_token_type_ids


@pytest.mark.parametrize("name", NEW)
def test_ask_answers_with_exact_spans(folders: dict[str, Path], name: str) -> None:
    reader = Reader.load(folders[name])
    for context in (CONTEXT, UNICODE_CONTEXT):
        answers = reader.ask(QUESTION, context, top_k=10)
        assert len(answers) == 10 and len({a.text for a in answers}) == 10
        assert_exact_spans(answers, context)
        assert reader.ask(QUESTION, context)[0] == answers[0]
    several = reader.ask("Which town?", LONG_CONTEXT, top_k=40, **SMALL_WINDOWS)
    assert len(encode_windows(reader.tokenizer, ["Which town?"], [LONG_CONTEXT], ReaderSettings(**SMALL_WINDOWS))) > 3
    assert any(a.window_index > 0 for a in several)
    assert_exact_spans(several, LONG_CONTEXT)
    with_null = reader.ask(QUESTION, CONTEXT, top_k=500, handle_impossible_answer=True)
    (no_answer,) = [a for a in with_null if a.is_no_answer]
    assert (no_answer.text, no_answer.start, no_answer.end) == ("", 0, 0)


@pytest.mark.parametrize("name", NEW)
def test_a_question_alone_or_in_a_padded_batch_gets_the_same_answers(folders: dict[str, Path], name: str) -> None:
    reader = Reader.load(folders[name])
    pairs = [(QUESTION, CONTEXT), ("Which town?", LONG_CONTEXT), ("a", "Short."), ("Where?", UNICODE_CONTEXT)]
    alone = [reader.ask(q, c, top_k=3, **SMALL_WINDOWS) for q, c in pairs]
    for batch_size in (1, 4, 64):
        predictions = reader.predict(pairs, batch_size=batch_size, top_k=3, **SMALL_WINDOWS)
        for prediction, expected in zip(predictions, alone, strict=True):
            assert spans(prediction.answers) == spans(expected)
            assert [a.score for a in prediction.answers] == pytest.approx([a.score for a in expected], abs=1e-5)


@pytest.mark.parametrize("name", NEW)
def test_predict_command_on_the_squad_fixture(
    folders: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    from spanqa.data import load_squad

    out = tmp_path / "predictions.json"
    code, _, err = run_main(
        monkeypatch, capsys, "predict", str(SQUAD_V1_SMALL), "--out", str(out), "--model", str(folders[name]),
        "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    predictions = json.loads(out.read_text())
    assert list(predictions) == question_ids(SQUAD_V1_SMALL)
    examples = load_squad(SQUAD_V1_SMALL)
    for example in examples:
        assert predictions[example.id] and predictions[example.id] in example.context
    assert predictions == {p.example_id: p.best_text for p in Reader.load(folders[name]).predict(examples)}


@pytest.mark.parametrize("name", NEW)
def test_int8_export_answers_like_torch(
    folders: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """Same spans with the same scores, up to int8 rounding; the best answer is torch's or a near tie of it."""
    from spanqa.inference.runtime.onnx import OnnxRuntime

    out = tmp_path / f"{name}-int8"
    code, _, err = run_main(monkeypatch, capsys, "export", str(folders[name]), "--onnx", str(out), "--int8")
    assert code == 0, err
    assert (out / "model.int8.onnx").exists() and (out / "tokenizer.json").exists()
    exported = Reader.load(out)
    assert isinstance(exported.runtime, OnnxRuntime) and exported.runtime.precision == "int8"
    torch_reader = Reader.load(folders[name], backend="torch")
    for question, context in SINGLE_WINDOW_PAIRS:
        assert len(encode_windows(torch_reader.tokenizer, [question], [context], torch_reader.settings)) == 1
        # top_k 20 at most: above DecodeOptions.candidates_per_window, top_k changes the merged scores
        expected = {(a.text, a.start, a.end): a.score for a in torch_reader.ask(question, context, top_k=20)}
        got = exported.ask(question, context, top_k=3)
        assert len(got) == 3
        assert_exact_spans(got, context)
        for answer in got:
            span = (answer.text, answer.start, answer.end)
            assert span in expected, span
            assert answer.score == pytest.approx(expected[span], rel=0.05), span
        best = (got[0].text, got[0].start, got[0].end)
        assert expected[best] == pytest.approx(max(expected.values()), rel=0.05)


@pytest.mark.parametrize("name", ["bert", *NEW])
def test_a_linear_folder_loads_in_transformers_with_the_same_logits(folders: dict[str, Path], name: str) -> None:
    """The folder format is a plain transformers question-answering folder: other tools can use it."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    reader = Reader.load(folders[name], backend="torch", precision="fp32")
    model = AutoModelForQuestionAnswering.from_pretrained(folders[name]).eval()
    windows = encode_windows(
        reader.tokenizer, [QUESTION, "Where?"], [CONTEXT, LONG_CONTEXT], ReaderSettings(**SMALL_WINDOWS)
    )
    batch = pad_windows(windows, reader.tokenizer.pad_token_id)
    start, end = reader.runtime.run(batch)
    # transformers gets only the inputs its tokenizer makes for this model (no segment ids for RoBERTa/DistilBERT)
    names = AutoTokenizer.from_pretrained(folders[name]).model_input_names
    with torch.inference_mode():
        output = model(**{key: torch.from_numpy(batch[key]) for key in names})
    assert start.shape == (len(windows), max(w.length for w in windows))
    np.testing.assert_allclose(output.start_logits.numpy(), start, atol=1e-5)
    np.testing.assert_allclose(output.end_logits.numpy(), end, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", NEW)
def test_train_a_few_steps_from_the_folder(folders: dict[str, Path], name: str, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    out = tmp_path / "trained"
    result = run_process(
        "train", "--base", str(folders[name]), "--train", str(SQUAD_V1_SMALL), "--out", str(out),
        "--max-steps", "3", "--batch-size", "4", "--log-every", "1", "--lr", "1e-3", "--no-progress",
        "--max-seq-len", "96", "--doc-stride", "32", "--max-question-len", "24",
        env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "answers not found in their context, skipped: 0" in result.stdout
    records = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)
    assert json.loads((out / "config.json").read_text())["model_type"] == name
    before, after = load_file(str(folders[name] / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys()
    assert any(not np.array_equal(before[key], after[key]) for key in before)
    reader = Reader.load(out)
    assert_exact_spans(reader.ask(QUESTION, CONTEXT, top_k=5), CONTEXT)
