"""The OpenVINO backend and `spanqa export --openvino`: parity with torch, NNCF int8, resolution, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, run_main

from spanqa.errors import ConfigError, InputError, MissingExtraError, ModelFolderError
from spanqa.inference.reader import Reader

pytest.importorskip("openvino", reason="the openvino extra is not installed: pip install 'spanqa[openvino]'")
pytest.importorskip("nncf", reason="the openvino extra is not installed: pip install 'spanqa[openvino]'")

QUESTIONS = [
    ("Who wrote the report?", "The report was written by Ada Lovelace in 1843, after months of careful work."),
    ("Where is the bridge?", "The old bridge stands in the north of the town. " * 40),  # several windows
    ("What?", "Short text."),
]
# Training-style questions for calibration (the tests never calibrate on the dev fixtures).
CALIBRATION = [
    ("Who built the mill?", "The mill was built by Jonas Berg in 1722 on the bank of the river.", "Jonas Berg"),
    ("When did the school open?", "The village school opened in 1851 with two teachers and forty pupils.", "1851"),
    ("What grows on the hill?", "Vines grow on the southern hill, and apple trees below them.", "Vines"),
    ("Where does the ferry go?", "The ferry crosses the bay to Harbor Point twice a day in summer.", "Harbor Point"),
]


@pytest.fixture(scope="module", autouse=True)
def compile_cache_in_tmp(tmp_path_factory):
    """OpenVINO's compiled-model cache goes to a temporary folder, not the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPANQA_OPENVINO_CACHE", str(tmp_path_factory.mktemp("openvino-cache")))
        yield


def write_calibration_file(path: Path) -> Path:
    paragraphs = [
        {
            "context": context,
            "qas": [{"id": f"c{i}", "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}],
        }
        for i, (q, context, a) in enumerate(CALIBRATION)
    ]
    path.write_text(
        json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="module")
def calibration_file(tmp_path_factory) -> Path:
    return write_calibration_file(tmp_path_factory.mktemp("calibration") / "train.json")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model_dir, tiny_pointer_model_dir, calibration_file) -> dict[tuple[str, str], Path]:
    """{(head, precision): OpenVINO folder} for the tiny linear and pointer models."""
    from spanqa.inference.runtime.openvino_export import export_openvino

    root = tmp_path_factory.mktemp("openvino")
    folders = {("linear", "fp32"): export_openvino(tiny_model_dir, root / "linear-fp32", int8=False).folder}
    for head, source in (("linear", tiny_model_dir), ("pointer", tiny_pointer_model_dir)):
        folders[(head, "int8")] = export_openvino(
            source, root / f"{head}-int8", int8=True, calibration=[calibration_file]
        ).folder
    return folders


def padded_batch(reader: Reader) -> dict[str, np.ndarray]:
    from spanqa.inference.features import encode_windows, pad_windows

    questions, contexts = zip(*QUESTIONS, strict=True)
    settings = reader.settings.replace(max_seq_len=96, doc_stride=16, max_question_len=16)
    return pad_windows(encode_windows(reader.tokenizer, questions, contexts, settings), reader.tokenizer.pad_token_id)


def test_fp32_openvino_logits_equal_torch(exported, tiny_model_dir):
    torch_reader = Reader.load(tiny_model_dir, backend="torch", precision="fp32")
    reader = Reader.load(exported[("linear", "fp32")], backend="openvino", precision="fp32")
    batch = padded_batch(torch_reader)
    expected_start, expected_end = torch_reader.runtime.run(batch)
    start, end = reader.runtime.run(batch)
    real = batch["attention_mask"].astype(bool)
    assert start.shape == expected_start.shape and end.shape == expected_end.shape
    assert np.abs(start - expected_start)[real].max() < 1e-4
    assert np.abs(end - expected_end)[real].max() < 1e-4


@pytest.mark.parametrize("head", ["linear", "pointer"])
def test_int8_folder_loads_without_naming_the_backend_and_stays_close_to_torch(
    exported, tiny_model_dir, tiny_pointer_model_dir, head
):
    from spanqa.inference.runtime.openvino import OpenVinoRuntime

    reader = Reader.load(exported[(head, "int8")])
    torch_reader = Reader.load(
        tiny_model_dir if head == "linear" else tiny_pointer_model_dir, backend="torch", precision="fp32"
    )
    assert isinstance(reader.runtime, OpenVinoRuntime) and reader.runtime.precision == "int8"
    assert reader.info.head == head
    batch = padded_batch(torch_reader)
    expected, got = torch_reader.runtime.run(batch), reader.runtime.run(batch)
    real = batch["attention_mask"].astype(bool)
    assert got[1].ndim == (3 if head == "pointer" else 2)
    spread = np.ptp(expected[0][real])
    # int8 rounds, but stays within a small share of the logits' range (a random tiny model's logits are close
    # together, so its best spans can flip; the default model's agreement is in the report)
    assert np.abs(got[0] - expected[0])[real].max() < 0.25 * spread
    for question, context in QUESTIONS:
        answers = reader.ask(question, context, top_k=2)
        assert 1 <= len(answers) <= 2
        for answer in answers:
            assert context[answer.start : answer.end] == answer.text and answer.text
            assert 0.0 <= answer.score <= 1.0


def test_fp32_openvino_answers_like_torch(exported, tiny_model_dir):
    reader = Reader.load(exported[("linear", "fp32")])
    torch_reader = Reader.load(tiny_model_dir, backend="torch", precision="fp32")
    assert reader.runtime.precision == "fp32"
    for question, context in QUESTIONS:
        got = reader.ask(question, context, top_k=3)
        expected = torch_reader.ask(question, context, top_k=3)
        assert [(a.text, a.start, a.end) for a in got] == [(a.text, a.start, a.end) for a in expected]
        assert np.allclose([a.score for a in got], [a.score for a in expected], atol=1e-3)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_answers_do_not_depend_on_the_other_questions_in_a_batch(exported, precision):
    reader = Reader.load(exported[("linear", precision)])
    long_context = " ".join(context for _, context in QUESTIONS) * 3
    queries = [QUESTIONS[0], ("What is this about?", long_context), QUESTIONS[1], ("Why?", QUESTIONS[1][1][:40])]
    together = reader.predict(queries, top_k=3, batch_size=8)
    for query, prediction in zip(queries, together, strict=True):
        alone = reader.ask(*query, top_k=3)
        assert [(a.text, a.start, a.score) for a in prediction.answers] == [(a.text, a.start, a.score) for a in alone]


def test_openvino_folder_records_what_it_holds(exported, tiny_model_dir, calibration_file):
    from spanqa.model.folder import weights_fingerprint

    folder = exported[("linear", "int8")]
    assert (folder / "model.openvino.xml").is_file() and (folder / "model.openvino.bin").is_file()
    assert (folder / "tokenizer.json").exists() and not list(folder.glob("*.onnx"))
    payload = json.loads((folder / "spanqa.json").read_text())
    assert payload["backend"] == "openvino" and payload["precision"] == "int8" and payload["head"] == "linear"
    record = payload["openvino_export"]
    assert record["fp32_max_abs_diff_vs_torch"] < 1e-4
    assert record["source_weights_sha256"] == weights_fingerprint(tiny_model_dir)
    assert record["int8_quantization"]["calibration_files"] == [str(calibration_file)]
    assert record["int8_quantization"]["calibration_windows"] == len(CALIBRATION)


def test_resolve_backend(exported, tiny_model_dir, tmp_path, monkeypatch):
    from spanqa.model import folder
    from spanqa.model.folder import resolve_backend

    int8, fp32 = exported[("linear", "int8")], exported[("linear", "fp32")]
    assert resolve_backend(int8) == ("openvino", "int8")
    assert resolve_backend(fp32) == ("openvino", "fp32")
    assert resolve_backend(int8, "openvino") == ("openvino", "int8")
    assert resolve_backend(int8, precision="int8") == ("openvino", "int8")
    with pytest.raises(ModelFolderError, match="--backend openvino"):
        resolve_backend(int8, "torch")
    with pytest.raises(ConfigError, match="bf16"):
        resolve_backend(int8, "openvino", "bf16")
    with pytest.raises(ModelFolderError, match="--precision int8"):
        Reader.load(int8, backend="openvino", precision="fp32")
    with pytest.raises(ModelFolderError, match=r"spanqa export .* --openvino"):
        Reader.load(tiny_model_dir, backend="openvino")
    # A torch folder that also carries OpenVINO files runs them only when openvino is installed.
    both = tmp_path / "both"
    both.mkdir()
    for path in tiny_model_dir.iterdir():
        (both / path.name).write_bytes(path.read_bytes())
    for name in ("model.openvino.xml", "model.openvino.bin"):
        (both / name).write_bytes((int8 / name).read_bytes())
    assert resolve_backend(both) == ("openvino", "int8")
    monkeypatch.setattr(folder, "openvino_installed", lambda: False)
    assert resolve_backend(both) == ("torch", "fp32")
    assert resolve_backend(int8) == ("openvino", "int8")  # nothing else runs it: the missing package is the error


def test_compiled_models_are_cached_and_the_cache_can_be_turned_off(exported, monkeypatch, tmp_path):
    from spanqa.inference.runtime.openvino import compile_cache_dir

    monkeypatch.setenv("SPANQA_OPENVINO_CACHE", str(tmp_path / "cache"))
    first = Reader.load(exported[("linear", "int8")]).ask(*QUESTIONS[0])
    assert any((tmp_path / "cache").iterdir())
    assert Reader.load(exported[("linear", "int8")]).ask(*QUESTIONS[0]) == first  # loaded from the cache
    monkeypatch.setenv("SPANQA_OPENVINO_CACHE", "")
    assert compile_cache_dir() is None


def test_missing_openvino_package_names_the_extra(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'spanqa\[openvino\]'"):
        Reader.load(exported[("linear", "int8")])


def test_missing_weights_file_is_one_clear_error(exported, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in exported[("linear", "int8")].iterdir():
        if path.name != "model.openvino.bin":
            (broken / path.name).write_bytes(path.read_bytes())
    with pytest.raises(ModelFolderError, match="holds no OpenVINO model"):
        Reader.load(broken, backend="openvino")


def test_export_without_calibration_data_names_the_option(tiny_model_dir, tmp_path):
    from spanqa.inference.runtime.openvino_export import export_openvino

    with pytest.raises(InputError, match="--calibration"):
        export_openvino(tiny_model_dir, tmp_path / "out", int8=True)
    with pytest.raises(InputError, match="does not exist"):
        export_openvino(tiny_model_dir, tmp_path / "out", int8=True, calibration=[tmp_path / "nowhere.json"])
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_export_and_ask(tiny_model_dir, calibration_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "tiny-ov"
    code, stdout, stderr = run_main(
        monkeypatch, capsys, "export", str(tiny_model_dir), "--openvino", str(out), "--int8",
        "--calibration", str(calibration_file),
    )  # fmt: skip
    assert code == 0, stderr
    assert "model.openvino.xml" in stdout and "calibrated on 4 windows" in stdout and "--backend openvino" in stdout
    code, stdout, stderr = run_main(
        monkeypatch, capsys, "ask", "-q", "Who wrote it?", "-c", "It was written by Ada.", "--model", str(out),
        "--backend", "openvino", "--precision", "int8", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert '"answer"' in stdout


@pytest.mark.parametrize("problem", ["both-outputs", "missing-calibration", "calibration-without-int8", "onnx"])
def test_cli_export_bad_input_is_one_line(tiny_model_dir, tmp_path, monkeypatch, capsys, problem):
    out = tmp_path / "out"
    args = ["export", str(tiny_model_dir), "--openvino", str(out)]
    if problem == "both-outputs":
        args += ["--onnx", str(tmp_path / "other")]
        expected = "not both"
    elif problem == "missing-calibration":
        args += ["--int8", "--calibration", str(tmp_path / "nowhere.json")]
        expected = "does not exist"
    elif problem == "calibration-without-int8":
        args += ["--calibration", str(tmp_path / "nowhere.json")]
        expected = "--int8"
    else:
        args = ["export", str(tiny_model_dir), "--onnx", str(out), "--calibration", str(tmp_path / "x.json")]
        expected = "--openvino"
    code, _, stderr = run_main(monkeypatch, capsys, *args)
    assert_one_error_line(code, stderr, expected)
    assert not out.exists()


def test_cli_ask_without_the_package_is_one_line(exported, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)
    code, _, stderr = run_main(
        monkeypatch, capsys, "ask", "-q", "Who?", "-c", "Ada wrote it.", "--model", str(exported[("linear", "int8")])
    )
    assert_one_error_line(code, stderr, "pip install 'spanqa[openvino]'")
