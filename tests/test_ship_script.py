"""scripts/ship_default_model.py: the training history it writes into the shipped spanqa.json."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ship_default_model.py"


def _ship_script():
    spec = importlib.util.spec_from_file_location("ship_default_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model_folder(folder: Path, **payload) -> Path:
    folder.mkdir(parents=True)
    (folder / "spanqa.json").write_text(json.dumps({"head": "linear", **payload}), encoding="utf-8")
    return folder


def _run(out: Path, base: Path | None, steps: int) -> dict:
    return {"out": str(out), "base": None if base is None else str(base), "max_steps": steps, "train_files": []}


def test_a_run_shipped_part_way_and_finished_later_is_in_the_history_once(tmp_path):
    ship = _ship_script()
    run_out = tmp_path / "stage5"
    # The default model as shipped part-way through stage 5: stage 3's history, then stage 5 so far.
    shipped = _model_folder(
        tmp_path / "default",
        training=[_run(tmp_path / "stage3", None, 2000), _run(run_out, tmp_path / "default", 8368)],
    )
    final = _model_folder(run_out, training=_run(run_out, shipped, 8368), eval={"step": 8368, "f1": 70.0})
    history = ship.portable_training_runs(final)
    assert [Path(run["out"]).name for run in history] == ["stage3", "stage5"]
    assert Path(history[-1]["base"]).name == "default"  # stage 5 started from the default model of its day
    assert ship.heldout_evaluation(final) == {"step": 8368, "f1": 70.0}


def test_runs_in_stages_are_all_kept(tmp_path):
    ship = _ship_script()
    stage1 = _model_folder(tmp_path / "stage1", training=_run(tmp_path / "stage1", None, 700))
    stage2 = _model_folder(tmp_path / "stage2", training=_run(tmp_path / "stage2", stage1, 2000))
    history = ship.portable_training_runs(stage2)
    assert [run["max_steps"] for run in history] == [700, 2000]
    assert ship.heldout_evaluation(stage2) is None
