"""`spanqa ask` and `spanqa predict` with the tiny model folder.

Most tests call the real entry point (`spanqa.cli.main`) in this process, which is what
`python -m spanqa` runs; a few (slow) run `python -m spanqa` in a subprocess to check the whole path.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from cli_helpers import assert_one_error_line, flat, run_main, run_process
from paths import FIXTURES, question_ids
from paths import SQUAD_V1_SMALL as V11
from paths import SQUAD_V2_SMALL as V20

from spanqa.inference.reader import Reader

QUESTION = "Who wrote the first program?"
CONTEXT = "The first program was written by Ada Lovelace in 1843, for the Analytical Engine of Charles Babbage."
LONG_CONTEXT = " ".join(f"Sentence {i} is about item{i} from town{i}." for i in range(30))


class TtyStdin(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def reader(tiny_model_dir: Path) -> Reader:
    return Reader.load(tiny_model_dir)


class Result(NamedTuple):
    code: int
    out: str
    err: str


@dataclass
class Cli:
    """The real entry point (`spanqa.cli.main`, what `python -m spanqa` runs), called in this process."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    model: str

    def __call__(self, *args: str, stdin: io.StringIO | None = None) -> Result:
        """A terminal on stdin unless `stdin` is given: nothing is read from it."""
        return Result(*run_main(self.monkeypatch, self.capsys, *args, stdin=stdin if stdin is not None else TtyStdin()))

    def ask(self, *args: str, stdin: io.StringIO | None = None) -> Result:
        return self("ask", *args, "--model", self.model, stdin=stdin)

    def predict(self, data: Path, out: Path, *args: str) -> Result:
        return self("predict", str(data), "--out", str(out), "--model", self.model, "--no-progress", *args)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model_dir: Path) -> Cli:
    return Cli(monkeypatch, capsys, str(tiny_model_dir))


# ------------------------------------------------------------------ ask
def test_ask_prints_the_answer_and_its_score(cli: Cli, reader: Reader) -> None:
    code, out, err = cli.ask("-q", QUESTION, "--context", CONTEXT)
    assert code == 0, err
    (expected,) = reader.ask(QUESTION, CONTEXT)
    assert flat(expected.text) in flat(out)
    assert f"score {expected.score:.3f}" in flat(out)
    assert f"[{expected.start}:{expected.end}]" in out


def test_ask_json_is_a_list_of_answer_dicts(cli: Cli, reader: Reader) -> None:
    code, out, err = cli.ask("-q", QUESTION, "-c", CONTEXT, "--json", "--top-k", "3")
    assert code == 0, err
    payload = json.loads(out)
    assert isinstance(payload, list) and len(payload) == 3
    for item, expected in zip(payload, reader.ask(QUESTION, CONTEXT, top_k=3), strict=True):
        assert item.keys() == {"answer", "score", "start", "end"}
        assert (item["answer"], item["start"], item["end"]) == (expected.text, expected.start, expected.end)
        assert item["score"] == pytest.approx(expected.score, abs=1e-6)
        assert CONTEXT[item["start"] : item["end"]] == item["answer"]


def test_ask_reads_the_context_from_a_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "context.txt"
    path.write_text(CONTEXT, encoding="utf-8")
    from_file = cli.ask("-q", QUESTION, "--context-file", str(path), "--json")
    from_option = cli.ask("-q", QUESTION, "-c", CONTEXT, "--json")
    assert from_file.code == 0, from_file.err
    assert json.loads(from_file.out) == json.loads(from_option.out)


def test_ask_reads_the_context_from_stdin(cli: Cli, reader: Reader) -> None:
    code, out, err = cli.ask("-q", QUESTION, "--json", stdin=io.StringIO(CONTEXT))
    assert code == 0, err
    (item,) = json.loads(out)
    (expected,) = reader.ask(QUESTION, CONTEXT)
    assert (item["answer"], item["start"], item["end"]) == (expected.text, expected.start, expected.end)


def test_ask_settings_options_reach_the_reader(cli: Cli) -> None:
    code, out, err = cli.ask("-q", QUESTION, "-c", CONTEXT, "--json", "--top-k", "10", "--max-answer-len", "1")
    assert code == 0, err
    assert len(json.loads(out)) == 10 and all(" " not in item["answer"] for item in json.loads(out))
    code, out, err = cli.ask("-q", QUESTION, "-c", CONTEXT, "--json", "--top-k", "500", "--handle-impossible-answer")
    assert code == 0, err
    assert ("", 0, 0) in [(item["answer"], item["start"], item["end"]) for item in json.loads(out)]


def test_ask_explain_shows_windows_tokens_and_candidates(cli: Cli) -> None:
    code, out, err = cli.ask(
        "-q", "Which town?", "-c", LONG_CONTEXT, "--explain", "--max-seq-len", "128", "--doc-stride", "16"
    )
    assert code == 0, err
    expected = ["window 0", "window 1", "token", "start logit", "end logit", "[CLS]", "town", "top starts"]
    expected += ["no-answer logit", "best candidate spans", "answers", "P(no answer)"]
    for fragment in expected:
        assert fragment in out, fragment


# ------------------------------------------------------------------ predict
def test_predict_writes_predictions_nbest_and_null_odds(cli: Cli, tmp_path: Path, reader: Reader) -> None:
    from spanqa.data import load_squad

    out, nbest, odds = tmp_path / "out" / "predictions.json", tmp_path / "nbest.json", tmp_path / "odds.json"
    code, stdout, err = cli.predict(V11, out, "--nbest", str(nbest), "--null-odds", str(odds), "--top-k", "3")
    assert code == 0, err
    ids = question_ids(V11)
    assert f"{len(ids)} predictions written" in stdout
    predictions = json.loads(out.read_text())
    assert list(predictions) == ids
    assert all(isinstance(text, str) and text for text in predictions.values())
    assert predictions == {p.example_id: p.best_text for p in reader.predict(load_squad(V11))}
    best = json.loads(nbest.read_text())
    assert list(best) == ids
    for qid, answers in best.items():
        assert 1 <= len(answers) <= 3
        assert all(a.keys() == {"answer", "score", "start", "end"} for a in answers)
        assert answers[0]["answer"] == predictions[qid]
        assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
    null_odds = json.loads(odds.read_text())
    assert list(null_odds) == ids and all(0.0 <= p <= 1.0 for p in null_odds.values())


def test_predict_squad_v2_with_no_answers(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "predictions.json"
    code, _, err = cli.predict(V20, out, "--handle-impossible-answer")
    assert code == 0, err
    predictions = json.loads(out.read_text())
    assert list(predictions) == question_ids(V20)
    assert all(isinstance(text, str) for text in predictions.values())


# ------------------------------------------------------------------ bad input
BAD_ASK = [
    (["-q", "", "-c", CONTEXT], "question is empty"),
    (["-q", "  \t ", "-c", CONTEXT], "question is empty"),
    (["-q", QUESTION, "-c", "   "], "context is empty"),
    (["-q", QUESTION], "no context"),
    (["-q", QUESTION, "-c", CONTEXT, "--top-k", "0"], "--top-k"),
    (["-q", QUESTION, "-c", CONTEXT, "--doc-stride", "384"], "doc_stride"),
    (["-q", QUESTION, "-c", CONTEXT, "--max-seq-len", "64", "--doc-stride", "64"], "doc_stride"),
    (["-q", QUESTION, "-c", CONTEXT, "--doc-stride", "-1"], "doc_stride"),
    (["-q", QUESTION, "-c", CONTEXT, "--max-seq-len", "64", "--doc-stride", "0"], "max_question_len"),
    (["-q", QUESTION, "-c", CONTEXT, "--max-answer-len", "0"], "max_answer_len"),
    (
        ["-q", QUESTION, "-c", CONTEXT, "--max-context-chars", "20"],
        "over the limit of 20: split it, or raise the limit",
    ),
    (["-q", QUESTION, "-c", CONTEXT, "--max-context-chars", "0"], "max_context_chars"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ASK)
def test_bad_ask_input_is_one_error_line(cli: Cli, args: list[str], message: str) -> None:
    code, out, err = cli.ask(*args)
    assert_one_error_line(code, err, message)
    assert out == ""


def test_empty_stdin_is_an_empty_context(cli: Cli) -> None:
    code, _, err = cli.ask("-q", QUESTION, stdin=io.StringIO(""))
    assert_one_error_line(code, err, "context is empty")


def test_context_and_context_file_together(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text(CONTEXT)
    code, _, err = cli.ask("-q", QUESTION, "-c", CONTEXT, "--context-file", str(path))
    assert_one_error_line(code, err, "not both")


@pytest.mark.parametrize("kind", ["missing", "folder", "latin-1"])
def test_bad_context_file(cli: Cli, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "context.txt"
    if kind == "folder":
        path.mkdir()
    elif kind == "latin-1":
        path.write_bytes("Ada Lovelace, née Byron, wrote it in Zürich.".encode("latin-1"))
    code, _, err = cli.ask("-q", QUESTION, "--context-file", str(path))
    expected = {"missing": "does not exist", "folder": "is a folder", "latin-1": "not UTF-8"}[kind]
    assert_one_error_line(code, err, str(path), expected)


@pytest.mark.parametrize("kind", ["missing", "no-config", "encoder-only"])
def test_bad_model_folder(cli: Cli, tmp_path: Path, tiny_model_dir: Path, kind: str) -> None:
    folder = tmp_path / "model"
    if kind == "no-config":
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"")
    elif kind == "encoder-only":
        from transformers import AutoTokenizer, BertConfig, BertModel

        BertModel(BertConfig.from_pretrained(tiny_model_dir)).save_pretrained(folder)
        AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    code, _, err = cli("ask", "-q", QUESTION, "-c", CONTEXT, "--model", str(folder))
    expected = {"missing": "does not exist", "no-config": "config.json", "encoder-only": "spanqa train"}[kind]
    assert_one_error_line(code, err, expected)


def test_a_mistyped_relative_model_path_is_a_missing_folder_not_a_hub_id(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """models/typo has the shape of a Hub id ("owner/name"), but ./models is a folder here: a typo."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    code, out, err = cli("ask", "-q", QUESTION, "-c", CONTEXT, "--model", "models/typo")
    assert_one_error_line(code, err, "models/typo", "does not exist")
    assert "Hub" not in err and out == ""


@pytest.mark.slow
def test_a_hub_id_without_network_fails_at_once_with_one_line(tmp_path: Path) -> None:
    """Offline, an "owner/name" that is no local folder is looked up in the cache only: no minute of
    huggingface_hub retries printed one by one. The process runs with the Hub switched on and no DNS."""
    (tmp_path / "sitecustomize.py").write_text(
        "import socket\n"
        "def no_network(*args, **kwargs):\n"
        "    raise socket.gaierror(-2, 'Name or service not known')\n"
        "socket.getaddrinfo = no_network\n"
    )
    env = {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "PYTHONPATH": str(tmp_path)}
    result = run_process("ask", "-q", QUESTION, "-c", CONTEXT, "--model", "someone/no-such-model", env=env)
    assert "Retrying" not in result.stderr
    assert_one_error_line(result.returncode, result.stderr, "someone/no-such-model", "does not exist", "Hub")


def test_no_default_model(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import spanqa.model.folder

    monkeypatch.setattr(spanqa.model.folder, "DEFAULT_MODEL_DIR", tmp_path)
    code, _, err = cli("ask", "-q", QUESTION, "-c", CONTEXT)
    assert_one_error_line(code, err, "--model")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": "1.1"}', "not a SQuAD file"),
        ('{"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}', "context"),
        ("[1, 2, 3]", "not a SQuAD file"),
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_predict_rejects_files_that_are_not_squad(cli: Cli, tmp_path: Path, content: str, message: str) -> None:
    data = tmp_path / "data.json"
    data.write_text(content)
    out = tmp_path / "predictions.json"
    code, _, err = cli.predict(data, out)
    assert_one_error_line(code, err, message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top-k", "0"], "--top-k"),
        (["--batch-size", "0"], "batch_size"),
        (["--max-context-chars", "10"], "over the limit of 10"),
    ],
)
def test_bad_predict_options(cli: Cli, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = cli.predict(V11, tmp_path / "p.json", *args)
    assert_one_error_line(code, err, message)
    assert not (tmp_path / "p.json").exists()


def test_predict_missing_data_file(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli.predict(tmp_path / "nope.json", tmp_path / "p.json")
    assert_one_error_line(code, err, "does not exist")


@pytest.mark.parametrize(
    ("command", "example"),
    [
        ("ask", 'spanqa ask -q "Who founded Apple?"'),
        ("predict", "spanqa predict dev-v1.1.json --out predictions.json"),
    ],
)
def test_help_shows_an_example(cli: Cli, command: str, example: str) -> None:
    code, out, err = cli(command, "--help")
    assert code == 0, err
    assert "Example:" in out and example in flat(out)
    assert "--model" in out


# ------------------------------------------------------------------ real processes
@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "-q", QUESTION, "-c", CONTEXT, "--top-k", "0"], "--top-k"),
        (["ask", "-q", QUESTION, "--context-file", "{tmp}/missing.txt"], "does not exist"),
        (["predict", str(FIXTURES / "ATTRIBUTION.md"), "--out", "{tmp}/predictions.json"], "not valid JSON"),
    ],
)
def test_early_errors_in_a_process(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_process(*(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert_one_error_line(result.returncode, result.stderr, message)
    assert not (tmp_path / "predictions.json").exists()


@pytest.mark.slow
def test_ask_and_predict_in_a_process(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = run_process("ask", "-q", QUESTION, "-m", str(tiny_model_dir), "--json", stdin=CONTEXT)
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert CONTEXT[item["start"] : item["end"]] == item["answer"]
    out = tmp_path / "predictions.json"
    result = run_process("predict", str(V11), "--out", str(out), "-m", str(tiny_model_dir), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert list(json.loads(out.read_text())) == question_ids(V11)
    result = run_process("ask", "-q", "", "-c", CONTEXT, "-m", str(tiny_model_dir))
    assert_one_error_line(result.returncode, result.stderr, "question is empty")
    result = run_process("ask", "-q", QUESTION, "-c", CONTEXT, "-m", str(tmp_path / "missing"))
    assert_one_error_line(result.returncode, result.stderr, "does not exist")
