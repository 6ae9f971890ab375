"""The ONNX backend and `spanqa export`: parity with torch, int8, bf16, backend resolution, CLI errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_error_line, run_main

from spanqa.errors import ConfigError, InputError, ModelFolderError
from spanqa.inference.reader import Reader

QUESTIONS = [
    ("Who wrote the report?", "The report was written by Ada Lovelace in 1843, after months of careful work."),
    ("Where is the bridge?", "The old bridge stands in the north of the town. " * 40),  # several windows
    ("What?", "Short text."),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model_dir, tiny_pointer_model_dir) -> dict[tuple[str, str], Path]:
    """{(head, precision): ONNX folder} for the tiny linear and pointer models."""
    from spanqa.inference.runtime.onnx_export import export_onnx

    root = tmp_path_factory.mktemp("onnx")
    folders = {}
    for head, source in (("linear", tiny_model_dir), ("pointer", tiny_pointer_model_dir)):
        folders[(head, "fp32")] = export_onnx(source, root / f"{head}-fp32").folder
        folders[(head, "int8")] = export_onnx(source, root / f"{head}-int8", int8=True).folder
    return folders


def padded_batch(reader: Reader) -> dict[str, np.ndarray]:
    from spanqa.inference.features import encode_windows, pad_windows

    questions, contexts = zip(*QUESTIONS, strict=True)
    windows = encode_windows(
        reader.tokenizer,
        questions,
        contexts,
        reader.settings.replace(max_seq_len=96, doc_stride=16, max_question_len=16),
    )
    return pad_windows(windows, reader.tokenizer.pad_token_id)


@pytest.mark.parametrize("head", ["linear", "pointer"])
def test_fp32_onnx_logits_equal_torch(exported, tiny_model_dir, tiny_pointer_model_dir, head):
    torch_reader = Reader.load(
        tiny_model_dir if head == "linear" else tiny_pointer_model_dir, backend="torch", precision="fp32"
    )
    onnx_reader = Reader.load(exported[(head, "fp32")], backend="onnx", precision="fp32")
    batch = padded_batch(torch_reader)
    expected_start, expected_end = torch_reader.runtime.run(batch)
    start, end = onnx_reader.runtime.run(batch)
    real = batch["attention_mask"].astype(bool)
    assert start.shape == expected_start.shape and end.shape == expected_end.shape
    assert end.ndim == (3 if head == "pointer" else 2)
    end_real = real[:, :, None] & real[:, None, :] if head == "pointer" else real
    assert np.abs(start - expected_start)[real].max() < 1e-4
    assert np.abs(end - expected_end)[end_real].max() < 1e-4


@pytest.mark.parametrize("head", ["linear", "pointer"])
def test_onnx_folder_loads_without_naming_the_backend_and_answers_like_torch(
    exported, tiny_model_dir, tiny_pointer_model_dir, head
):
    from spanqa.inference.runtime.onnx import OnnxRuntime

    onnx_reader = Reader.load(exported[(head, "fp32")])
    torch_reader = Reader.load(
        tiny_model_dir if head == "linear" else tiny_pointer_model_dir, backend="torch", precision="fp32"
    )
    assert isinstance(onnx_reader.runtime, OnnxRuntime) and onnx_reader.runtime.precision == "fp32"
    assert onnx_reader.info.head == head
    for question, context in QUESTIONS:
        got = onnx_reader.ask(question, context, top_k=3)
        expected = torch_reader.ask(question, context, top_k=3)
        assert [(a.text, a.start, a.end) for a in got] == [(a.text, a.start, a.end) for a in expected]
        assert np.allclose([a.score for a in got], [a.score for a in expected], atol=1e-3)


@pytest.mark.parametrize("head", ["linear", "pointer"])
def test_int8_export_is_smaller_and_answers_with_valid_spans(exported, head):
    int8_folder = exported[(head, "int8")]
    fp32_size = (exported[(head, "fp32")] / "model.onnx").stat().st_size
    assert (int8_folder / "model.int8.onnx").stat().st_size < fp32_size
    assert not (int8_folder / "model.onnx").exists()
    reader = Reader.load(int8_folder)
    assert reader.runtime.precision == "int8"
    for question, context in QUESTIONS:
        answers = reader.ask(question, context, top_k=2)
        assert 1 <= len(answers) <= 2
        for answer in answers:
            assert context[answer.start : answer.end] == answer.text and answer.text
            assert 0.0 <= answer.score <= 1.0
    predictions = reader.predict([("Who wrote it?", QUESTIONS[0][1])] * 3, batch_size=2)
    assert len({p.best_text for p in predictions}) == 1


def test_int8_answers_do_not_depend_on_the_other_questions_in_a_batch(exported):
    """Dynamic int8 shares one activation scale per batch, so the reader runs its windows alone."""
    reader = Reader.load(exported[("linear", "int8")])
    assert not reader.runtime.batch_independent
    long_context = " ".join(context for _, context in QUESTIONS) * 3
    queries = [QUESTIONS[0], ("What is this about?", long_context), QUESTIONS[1], ("Why?", QUESTIONS[1][1][:40])]
    together = reader.predict(queries, top_k=3, batch_size=8)
    for query, prediction in zip(queries, together, strict=True):
        alone = reader.ask(*query, top_k=3)
        assert [(a.text, a.start, a.score) for a in prediction.answers] == [(a.text, a.start, a.score) for a in alone]


def test_a_server_reader_does_not_spin_between_runs(exported):
    from spanqa.serve.app import SERVER_LOAD_OPTIONS

    def spinning(reader: Reader) -> str:
        return reader.runtime.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")

    assert spinning(Reader.load(exported[("linear", "int8")], **SERVER_LOAD_OPTIONS)) == "0"
    offline = Reader.load(exported[("linear", "int8")])
    with pytest.raises(RuntimeError, match="does not have configuration"):  # not set: ONNX Runtime's default, spinning
        spinning(offline)


def test_onnx_folder_records_what_it_holds(exported, tiny_model_dir, tiny_pointer_model_dir):
    import json

    from spanqa.model.folder import weights_fingerprint

    payload = json.loads((exported[("linear", "int8")] / "spanqa.json").read_text())
    assert payload["backend"] == "onnx" and payload["precision"] == "int8" and payload["head"] == "linear"
    assert payload["onnx_export"]["fp32_max_abs_diff_vs_torch"] < 1e-4
    assert (exported[("linear", "int8")] / "tokenizer.json").exists()
    # Which weights it was made from: a retrained model is told apart from its stale export.
    assert payload["onnx_export"]["source_weights_sha256"] == weights_fingerprint(tiny_model_dir)
    assert weights_fingerprint(tiny_model_dir) != weights_fingerprint(tiny_pointer_model_dir)


def test_asking_an_int8_folder_for_fp32_names_the_fix(exported):
    with pytest.raises(ModelFolderError, match="spanqa export"):
        Reader.load(exported[("linear", "int8")], backend="onnx", precision="fp32")


def test_bf16_reader_answers_with_valid_offsets(tiny_model_dir, tiny_pointer_model_dir):
    for folder in (tiny_model_dir, tiny_pointer_model_dir):
        reader = Reader.load(folder, backend="torch", precision="bf16")
        assert reader.runtime.precision == "bf16"
        for question, context in QUESTIONS:
            for answer in reader.ask(question, context, top_k=2):
                assert context[answer.start : answer.end] == answer.text
                assert 0.0 <= answer.score <= 1.0


def test_onnx_backend_on_a_folder_without_onnx_names_spanqa_export(tiny_model_dir):
    with pytest.raises(ModelFolderError, match="spanqa export"):
        Reader.load(tiny_model_dir, backend="onnx")


def test_resolve_backend(exported, tiny_model_dir, monkeypatch):
    from spanqa.model import folder
    from spanqa.model.folder import resolve_backend

    monkeypatch.setattr(folder, "cpu_has_fast_bf16", lambda: False)
    assert resolve_backend(tiny_model_dir) == ("torch", "fp32")
    monkeypatch.setattr(folder, "cpu_has_fast_bf16", lambda: True)
    assert resolve_backend(tiny_model_dir) == ("torch", "bf16")
    assert resolve_backend(tiny_model_dir, "torch", "fp32") == ("torch", "fp32")
    assert resolve_backend(exported[("linear", "fp32")]) == ("onnx", "fp32")
    assert resolve_backend(exported[("linear", "int8")]) == ("onnx", "int8")
    assert resolve_backend(exported[("linear", "int8")], precision="int8") == ("onnx", "int8")
    with pytest.raises(ModelFolderError, match="--backend onnx"):
        resolve_backend(exported[("linear", "fp32")], "torch")
    with pytest.raises(ConfigError):
        resolve_backend(tiny_model_dir, "onnx", "bf16")
    with pytest.raises(ConfigError):
        resolve_backend(tiny_model_dir, "torch", "int8")
    with pytest.raises(InputError):
        resolve_backend(tiny_model_dir, "tensorrt")


def test_failed_export_leaves_the_destination_alone(tiny_model_dir, tmp_path, monkeypatch):
    from spanqa.inference.runtime import onnx_export as export

    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "keep.txt").write_text("old")

    def broken(*args, **kwargs):
        raise RuntimeError("quantiser crashed")

    monkeypatch.setattr(export, "quantize_int8", broken)
    with pytest.raises(RuntimeError, match="quantiser crashed"):
        export.export_onnx(tiny_model_dir, destination, int8=True, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind
    assert [p.name for p in destination.iterdir()] == ["keep.txt"]


def test_export_refuses_to_write_over_its_source(tiny_model_dir):
    from spanqa.inference.runtime.onnx_export import export_onnx

    with pytest.raises(InputError, match="holds the source model"):
        export_onnx(tiny_model_dir, tiny_model_dir, overwrite=True)


# ---------------------------------------------------------------------------- CLI
def test_cli_export_happy_path(tiny_model_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "tiny-int8"
    code, stdout, stderr = run_main(monkeypatch, capsys, "export", str(tiny_model_dir), "--onnx", str(out), "--int8")
    assert code == 0, stderr
    assert "model.int8.onnx" in stdout and "fp32 ONNX vs torch" in stdout
    code, stdout, stderr = run_main(
        monkeypatch, capsys, "ask", "-q", "Who wrote it?", "-c", "It was written by Ada.", "--model", str(out),
        "--backend", "onnx", "--precision", "int8", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert '"answer"' in stdout


def test_cli_export_help(monkeypatch, capsys):
    code, stdout, _ = run_main(monkeypatch, capsys, "export", "--help")
    assert code == 0 and "--int8" in stdout and "Example" in stdout


@pytest.mark.parametrize("problem", ["missing-model", "non-empty-out", "no-onnx-option"])
def test_cli_export_bad_input_is_one_line(tiny_model_dir, tmp_path, monkeypatch, capsys, problem):
    out = tmp_path / "out"
    if problem == "missing-model":
        args = ["export", str(tmp_path / "nowhere"), "--onnx", str(out)]
        expected = "does not exist"
    elif problem == "non-empty-out":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        args = ["export", str(tiny_model_dir), "--onnx", str(out)]
        expected = "--force"
    else:
        args = ["export", str(tiny_model_dir)]
        expected = "--onnx"
    code, _, stderr = run_main(monkeypatch, capsys, *args)
    assert_one_error_line(code, stderr, expected)
    if problem == "non-empty-out":
        assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_loading_an_onnx_folder_does_not_import_torch(exported):
    """Start-up: the onnx backend needs neither torch nor AutoTokenizer (which imports torch)."""
    import subprocess

    code = (
        "import sys; from spanqa.inference.reader import Reader; "
        f"reader = Reader.load({str(exported[('linear', 'int8')])!r}); reader.ask('Who?', 'Ada wrote it.'); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
