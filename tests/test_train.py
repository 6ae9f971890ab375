"""Training: labels, resume after SIGKILL, Ctrl-C, multi-process equivalence, heads and optimisers."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SQUAD_V1_SMALL, SQUAD_V2_SMALL, run_main
from paths import write_squad2_heldout
from safetensors.torch import load_file
from tiny_model import build_tiny_model

from spanqa.errors import ConfigError
from spanqa.training.checkpoint import COMPLETE_MARKER, latest_checkpoint, list_checkpoints, prune_checkpoints
from spanqa.training.config import TrainConfig
from spanqa.training.loop import epoch_batches
from spanqa.types import Example, GoldAnswer

COMMON = ["--max-seq-len", "96", "--doc-stride", "32", "--max-question-len", "24", "--lr", "1e-3", "--no-progress"]


def _train_cmd(base: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "spanqa",
        "train",
        "--base",
        str(base),
        "--train",
        str(SQUAD_V1_SMALL),
        "--out",
        str(out),
        *COMMON,
        *extra,
    ]


def _run(cmd: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=environment, timeout=600, **kwargs)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _losses(out: Path) -> list[float]:
    lines = (out / "logs" / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("base") / "tiny", dropout=0.1)


def test_batches_are_full_length_grouped_and_deterministic():
    lengths = np.random.default_rng(0).integers(10, 200, size=1000)
    first = epoch_batches(lengths, 16, seed=3, epoch=0)
    again = epoch_batches(lengths, 16, seed=3, epoch=0)
    other_epoch = epoch_batches(lengths, 16, seed=3, epoch=1)
    assert all(len(b) == 16 for b in first)
    assert [b.tolist() for b in first] == [b.tolist() for b in again]
    assert [b.tolist() for b in first] != [b.tolist() for b in other_epoch]
    used = np.concatenate(first)
    assert len(set(used.tolist())) == len(used) >= 1000 - 16
    # length grouping keeps padding small: the spread inside a batch is far below the global spread
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in first])
    assert spread < 0.25 * (lengths.max() - lengths.min())


def test_answer_start_off_by_two_is_repaired_and_unlocatable_is_skipped(minilm_dir):
    from transformers import AutoTokenizer

    from spanqa.settings import ReaderSettings
    from spanqa.training.data import prepare_training_windows

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    context = "The Eiffel Tower is in Paris, the capital of France."
    examples = [
        Example("ok", "Where is it?", context, (GoldAnswer("Paris", context.index("Paris")),)),
        Example("shifted", "In which city is it?", context, (GoldAnswer("Paris", context.index("Paris") + 2),)),
        Example("missing", "Where is the tower?", context, (GoldAnswer("London", 5),)),
        Example("none", "Who built it?", context, (), is_impossible=True),
    ]
    windows, summary = prepare_training_windows(tokenizer, examples, ReaderSettings())
    assert (summary.answerable, summary.repaired, summary.skipped, summary.unanswerable) == (2, 1, 1, 1)
    assert summary.skipped_ids == ["missing"]
    assert len(windows) == 3
    for window in windows[:2]:
        assert tokenizer.decode(window.input_ids[window.start_label : window.end_label + 1]) == "paris"
    assert windows[2].start_label == windows[2].end_label == windows[2].cls_index


def test_training_windows_are_the_same_whatever_the_chunk_size(minilm_dir, monkeypatch):
    from transformers import AutoTokenizer

    import spanqa.training.data
    from spanqa.data import load_squad
    from spanqa.settings import ReaderSettings
    from spanqa.training.data import prepare_training_windows

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    examples = load_squad(SQUAD_V1_SMALL)
    settings = ReaderSettings(max_seq_len=96, doc_stride=32, max_question_len=24)  # several windows per question
    whole, _ = prepare_training_windows(tokenizer, examples, settings, negatives=0.5)
    monkeypatch.setattr(spanqa.training.data, "ENCODE_CHUNK", 7)
    chunked, _ = prepare_training_windows(tokenizer, examples, settings, negatives=0.5)
    assert len(chunked) == len(whole) > len(examples)
    for a, b in zip(whole, chunked, strict=True):
        assert (a.example_index, a.start_label, a.end_label, a.cls_index) == (
            b.example_index, b.start_label, b.end_label, b.cls_index
        )  # fmt: skip
        assert a.input_ids.tolist() == b.input_ids.tolist()


def test_negatives_pair_questions_with_other_paragraphs_without_the_answer(minilm_dir):
    from transformers import AutoTokenizer

    from spanqa.data import load_squad
    from spanqa.settings import ReaderSettings
    from spanqa.training.data import prepare_training_windows

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    examples = load_squad(SQUAD_V1_SMALL)
    windows, summary = prepare_training_windows(tokenizer, examples, ReaderSettings(), negatives=1.0, seed=0)
    assert summary.synthetic_negatives > 50
    negative_windows = [w for w in windows if w.example_index >= summary.answerable + summary.unanswerable]
    assert negative_windows and all(w.start_label == w.cls_index for w in negative_windows)


def test_resume_settings_must_match(tmp_path):
    config = TrainConfig(base="b", train_files=("t.json",), out=str(tmp_path))
    config.check_resumable_from(config.to_dict())
    with pytest.raises(ConfigError, match="lr"):
        config.check_resumable_from({**config.to_dict(), "lr": 1.0})
    # a checkpoint saved before --exclude and --hard-negatives existed resumes under their defaults
    newer = ("exclude_files", "hard_negatives", "label_smoothing")
    older = {k: v for k, v in config.to_dict().items() if k not in newer}
    config.check_resumable_from(older)
    with pytest.raises(ConfigError, match="exclude_files"):
        dataclasses.replace(config, exclude_files=("held-out.json",)).check_resumable_from(older)
    # the same file by another path is the same setting
    (tmp_path / "t.json").write_text("{}")
    by_path = dataclasses.replace(config, train_files=(str(tmp_path / "t.json"),))
    by_path.check_resumable_from({**by_path.to_dict(), "train_files": [os.path.relpath(tmp_path / "t.json")]})


def test_history_replays_the_questions_a_run_put_in_its_steps(minilm_dir, tmp_path):
    from transformers import AutoTokenizer

    from spanqa.data import load_squad
    from spanqa.model.folder import ModelInfo, training_runs, write_model_info
    from spanqa.training.data import question_key
    from spanqa.training.history import questions_in_steps

    run = TrainConfig(
        base="b", train_files=(str(SQUAD_V1_SMALL),), out="o", max_steps=3, batch_size=4, negatives=0.0
    ).to_dict()
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    used = questions_in_steps(run, tokenizer)
    every = {question_key(e) for e in load_squad(SQUAD_V1_SMALL)}
    assert 3 <= len(used) <= 12 and used <= every
    assert questions_in_steps(run, tokenizer) == used  # the batch order is a function of the settings
    # a shipped model records its whole history as a list of runs
    write_model_info(tmp_path, ModelInfo(head="linear", extra={"training": [run, {**run, "seed": 7}]}))
    assert [r["seed"] for r in training_runs(tmp_path)] == [42, 7]


# Every option of `spanqa train`, as users type them.
TRAIN_OPTIONS = [
    "--base", "--train", "--out", "--eval", "--epochs", "--max-steps", "--lr", "--batch-size", "--grad-accum",
    "--warmup-ratio", "--weight-decay", "--max-grad-norm", "--max-seq-len", "--doc-stride", "--max-question-len",
    "--seed", "--optimizer", "--head", "--precision", "--negatives", "--save-every", "--keep-last", "--eval-every",
    "--eval-limit", "--eval-batch-size", "--resume", "--logdir", "--checkpoint-dir", "--log-every",
    "--max-train-examples", "--no-progress", "--exclude", "--hard-negatives", "--label-smoothing", "--keep-every",
]  # fmt: skip


def test_train_help_shows_an_example_and_every_option(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "train", "--help")
    assert code == 0
    assert "Example: spanqa train --base" in out
    listed = {line.split()[0] for line in out.splitlines() if line.strip().startswith("--")}
    assert set(TRAIN_OPTIONS) <= listed
    assert "Peak learning rate." in out and "[default: 5e-05]" in out


@pytest.fixture
def configs_given_to_training(monkeypatch) -> list[tuple[TrainConfig, bool]]:
    """Calls of the training loop by `spanqa train`, which then trains nothing."""
    import spanqa.training.loop

    calls: list[tuple[TrainConfig, bool]] = []

    def record(config: TrainConfig, resume: bool = False, echo=print) -> dict:
        calls.append((config, resume))
        return {"stopped": False}

    monkeypatch.setattr(spanqa.training.loop, "train", record)
    return calls


def test_train_options_default_to_the_config_defaults(monkeypatch, capsys, configs_given_to_training):
    code, _, err = run_main(monkeypatch, capsys, "train", "--base", "b", "--train", "t.json", "--out", "o")
    assert code == 0, err
    assert configs_given_to_training == [(TrainConfig(base="b", train_files=("t.json",), out="o"), False)]


def test_every_train_option_reaches_the_config(monkeypatch, capsys, configs_given_to_training):
    values = {
        "--base": "b", "--out": "o", "--eval": "e.json", "--epochs": "3.5", "--max-steps": "7", "--lr": "0.001",
        "--batch-size": "5", "--grad-accum": "2", "--warmup-ratio": "0.2", "--weight-decay": "0.5",
        "--max-grad-norm": "0", "--max-seq-len": "128", "--doc-stride": "16", "--max-question-len": "8",
        "--seed": "3", "--optimizer": "adafactor", "--head": "pointer", "--precision": "bf16", "--negatives": "0.5",
        "--hard-negatives": "0.25", "--label-smoothing": "0.1", "--save-every": "11", "--keep-last": "1",
        "--keep-every": "22", "--eval-every": "4", "--eval-limit": "9", "--eval-batch-size": "6",
        "--logdir": "logs", "--checkpoint-dir": "ckpt", "--log-every": "2", "--max-train-examples": "12",
        "--task": "classify", "--text-column": "t", "--text-pair-column": "p", "--label-column": "l",
    }  # fmt: skip
    args = [item for pair in values.items() for item in pair]
    code, _, err = run_main(
        monkeypatch, capsys, "train", *args, "--train", "t1.json", "--train", "t2.json", "--no-progress", "--resume",
        "--exclude", "h1.json", "--exclude", "h2.json",
        "--multi-label",
    )  # fmt: skip
    assert code == 0, err
    expected = TrainConfig(
        base="b", train_files=("t1.json", "t2.json"), out="o", eval_file="e.json",
        exclude_files=("h1.json", "h2.json"), epochs=3.5, max_steps=7, lr=0.001,
        batch_size=5, grad_accum=2, warmup_ratio=0.2, weight_decay=0.5, max_grad_norm=0.0, max_seq_len=128,
        doc_stride=16, max_question_len=8, seed=3, optimizer="adafactor", head="pointer", precision="bf16",
        negatives=0.5, hard_negatives=0.25, label_smoothing=0.1, save_every=11, keep_last=1, keep_every=22,
        eval_every=4, eval_limit=9, eval_batch_size=6, logdir="logs",
        checkpoint_dir="ckpt", log_every=2, max_train_examples=12, progress=False,
        task="classify", text_column="t", text_pair_column="p", label_column="l", multi_label=True,
    )  # fmt: skip
    assert configs_given_to_training == [(expected, True)]
    # every field differs from its default, so a field without an option (or a new one) cannot pass unseen
    defaults = TrainConfig(base="", train_files=("",), out="")
    assert [
        f.name for f in dataclasses.fields(TrainConfig) if getattr(expected, f.name) == getattr(defaults, f.name)
    ] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "batch-size"),
        (["--optimizer", "sgd"], "optimizer"),
        (["--warmup-ratio", "1.5"], "warmup-ratio"),
        (["--precision", "fp8"], "precision"),
    ],
)
@pytest.mark.slow
def test_bad_training_options_give_one_error_line(base_model, tmp_path, args, message):
    result = _run(_train_cmd(base_model, tmp_path / "out", "--max-steps", "2", *args))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_weights_as_an_uninterrupted_run(base_model, tmp_path):
    args = ["--max-steps", "12", "--batch-size", "4", "--save-every", "4", "--keep-last", "2", "--log-every", "1"]
    straight = tmp_path / "straight"
    result = _run(_train_cmd(base_model, straight, *args))
    assert result.returncode == 0, result.stderr

    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        _train_cmd(base_model, killed, *args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and latest_checkpoint(killed / "checkpoints") is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = latest_checkpoint(killed / "checkpoints")
    assert interrupted_at is not None and not (killed / "model.safetensors").exists()

    resumed = _run(_train_cmd(base_model, killed, *args, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    expected, got = _weights(straight), _weights(killed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert len(list_checkpoints(killed / "checkpoints")) <= 2


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_exits_cleanly(base_model, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = _train_cmd(base_model, out, "--max-steps", "100000", "--batch-size", "4", "--save-every", "100000")
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    log = out / "logs" / "train_log.jsonl"
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) > 2):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "continue with --resume" in stdout
    assert latest_checkpoint(out / "checkpoints") is not None


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    base = build_tiny_model(tmp_path / "base", dropout=0.0)
    args = ["--max-steps", "6", "--log-every", "1", "--save-every", "100"]
    single = tmp_path / "single"
    assert _run(_train_cmd(base, single, *args, "--batch-size", "8")).returncode == 0
    double = tmp_path / "double"
    # the same command under torchrun: `python -m torch.distributed.run ... -m spanqa train ...`
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517"]
    cmd = [*launcher, *_train_cmd(base, double, *args, "--batch-size", "4")[1:]]
    result = _run(cmd)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = _losses(single), _losses(double)
    assert len(one) == len(two) == 6
    np.testing.assert_allclose(two, one, rtol=2e-3, atol=2e-3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("head", "optimizer", "precision"),
    [("pointer", "adamw", "fp32"), ("linear", "adafactor", "fp32"), ("linear", "adamw", "bf16")],
)
def test_heads_optimisers_and_precisions_train_and_load(tmp_path, base_model, head, optimizer, precision):
    out = tmp_path / f"{head}-{optimizer}-{precision}"
    result = _run(
        _train_cmd(
            base_model,
            out,
            "--max-steps",
            "30",
            "--batch-size",
            "8",
            "--head",
            head,
            "--optimizer",
            optimizer,
            "--precision",
            precision,
            "--log-every",
            "1",
            "--lr",
            "3e-3",
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = _losses(out)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # it learns something
    from spanqa.inference.reader import Reader

    reader = Reader.load(out)
    assert reader.info.head == head
    answers = reader.ask("What is this?", "This is a small test of the reader.", top_k=2)
    assert answers and all("This is a small test of the reader."[a.start : a.end] == a.text for a in answers)


@pytest.mark.slow
def test_eval_every_keeps_the_best_model_and_logs_metrics(tmp_path, base_model):
    out = tmp_path / "evaluated"
    result = _run(
        _train_cmd(
            base_model,
            out,
            "--max-steps",
            "4",
            "--batch-size",
            "8",
            "--eval",
            str(SQUAD_V2_SMALL),
            "--eval-every",
            "2",
            "--train",
            str(SQUAD_V2_SMALL),
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if "eval_f1" in r]
    assert [r["step"] for r in evaluations] == [2, 4]
    best = max(evaluations, key=lambda r: r["eval_f1"])  # the first of equals, as training keeps it
    info = json.loads((out / "best" / "spanqa.json").read_text())
    assert (info["eval"]["step"], info["eval"]["f1"]) == (best["step"], best["eval_f1"])
    assert list((out / "logs").glob("events.out.tfevents.*"))


def test_train_with_hard_negatives_and_a_held_out_file(base_model, tmp_path):
    from spanqa.data import load_squad
    from spanqa.data.squad import examples_to_squad

    held_out = tmp_path / "held-out.json"
    held_out.write_text(json.dumps(examples_to_squad(load_squad(SQUAD_V1_SMALL)[:5])))
    out = tmp_path / "run"
    cmd = _train_cmd(base_model, out, "--max-steps", "2", "--batch-size", "4", "--hard-negatives", "0.5")
    result = _run([*cmd, "--exclude", str(held_out)])
    assert result.returncode == 0, result.stderr
    summary = (out / "logs" / "data_summary.txt").read_text()
    assert "questions held out (--exclude), left out: 5" in summary
    written = int(summary.split("hard unanswerable questions written: ")[1].split()[0].replace(",", ""))
    assert written > 0
    assert (out / "model.safetensors").exists()


def test_label_smoothing_spreads_the_target_over_real_tokens_only():
    import torch.nn.functional as F

    from spanqa.model.heads import span_loss

    torch.manual_seed(0)
    logits = torch.randn(3, 10), torch.randn(3, 10)
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[0, 6:] = 0  # padding
    starts, ends = torch.tensor([1, 2, 3]), torch.tensor([2, 4, 3])
    plain = span_loss(*logits, starts, ends, mask)
    masked = [x.masked_fill(mask == 0, -1e4) for x in logits]
    assert plain == pytest.approx(float(F.cross_entropy(masked[0], starts) + F.cross_entropy(masked[1], ends)) / 2)
    smoothed = span_loss(*logits, starts, ends, mask, label_smoothing=0.1)
    assert 0 < float(smoothed) < 10  # padding's -1e4 logits would make it about 100 if it got target mass
    # the loss is smallest where the prediction matches the smoothed target: not at a one-hot prediction
    peaked = torch.full((1, 5), -20.0)
    peaked[0, 2] = 20.0
    one = torch.ones(1, 5, dtype=torch.long)
    target = torch.tensor([2])
    softer = torch.log(torch.tensor([[0.025, 0.025, 0.9, 0.025, 0.025]]))
    assert span_loss(softer, softer, target, target, one, 0.1) < span_loss(peaked, peaked, target, target, one, 0.1)


def test_pruning_keeps_the_last_checkpoints_and_every_nth_step(tmp_path):
    for step in (100, 150, 200, 250, 300, 350, 400):
        folder = tmp_path / f"step-{step:09d}"
        folder.mkdir()
        (folder / COMPLETE_MARKER).touch()
    prune_checkpoints(tmp_path, keep_last=2, keep_every=200)
    assert [path.name for path in list_checkpoints(tmp_path)] == [
        f"step-{step:09d}" for step in (200, 350, 400)
    ]
    prune_checkpoints(tmp_path, keep_last=1)
    assert [path.name for path in list_checkpoints(tmp_path)] == ["step-000000400"]


@pytest.mark.parametrize("keep_every", [0, 15])
def test_keep_every_must_be_a_multiple_of_save_every(keep_every):
    with pytest.raises(ConfigError, match="keep-every"):
        TrainConfig(base="b", train_files=("t.json",), out="o", save_every=10, keep_every=keep_every)


@pytest.mark.slow
def test_averaged_checkpoints_are_the_mean_of_the_kept_weights(base_model, tmp_path):
    out = tmp_path / "run"
    args = ["--max-steps", "6", "--batch-size", "4", "--save-every", "2", "--keep-every", "2", "--keep-last", "1"]
    result = _run(_train_cmd(base_model, out, *args))
    assert result.returncode == 0, result.stderr
    kept = list_checkpoints(out / "checkpoints")
    assert [path.name for path in kept] == ["step-000000002", "step-000000004", "step-000000006"]
    script = Path(__file__).resolve().parents[1] / "scripts" / "average_checkpoints.py"
    averaged = tmp_path / "avg"
    done = _run([sys.executable, str(script), str(out), "--last", "3", "--out", str(averaged)])
    assert done.returncode == 0, done.stderr
    states = [torch.load(path / "state.pt", weights_only=False)["model"] for path in kept]
    got = _weights(averaged)
    name = next(key for key in states[0] if key.endswith("qa_outputs.weight"))
    expected = sum(state[name].float() for state in states) / 3
    saved_name = next(key for key in got if key.endswith("qa_outputs.weight"))
    assert torch.allclose(got[saved_name].float(), expected, atol=1e-6)
    assert not torch.allclose(states[0][name].float(), states[2][name].float())  # the steps really differ
    info = json.loads((averaged / "spanqa.json").read_text())
    assert info["averaged_checkpoints"] == [2, 4, 6]
    too_many = _run([sys.executable, str(script), str(out), "--last", "4", "--out", str(tmp_path / "x")])
    assert too_many.returncode == 2 and "Traceback" not in too_many.stderr and "--keep-every" in too_many.stderr
    spaced = _run([sys.executable, str(script), str(out), "--last", "2", "--every", "4", "--out", str(tmp_path / "y")])
    assert spaced.returncode == 2 and "1 complete checkpoints at multiples of 4" in spaced.stderr

    # scripts/choose_default_model.sh: the final model against the average, each exported to int8 and calibrated
    choose = Path(__file__).resolve().parents[1] / "scripts" / "choose_default_model.sh"
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SPANQA_HELDOUT": str(write_squad2_heldout(tmp_path / "heldout-v2.json")),
        "SPANQA_CHOICE_DIR": str(tmp_path / "choice"),
        "SPANQA_AVERAGE_EVERY": "2",
    }
    chosen = _run(["bash", str(choose), str(out)], env=env)
    assert chosen.returncode == 0, chosen.stderr
    lines = chosen.stdout.strip().splitlines()
    assert [line.split(" ")[0] for line in lines] == ["final", "avg3", "choose:"], chosen.stdout
    assert lines[-1].split(" ")[1] in ("final", "avg3")
    not_finished = _run(["bash", str(choose), str(tmp_path / "nothing")], env=env)
    assert not_finished.returncode == 2 and "no finished model" in not_finished.stderr
