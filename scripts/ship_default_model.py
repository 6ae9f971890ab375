"""Copy a trained model into the package as the default model (fp16 weights, no optimiser state).

    python scripts/ship_default_model.py ../spanqa-train/default-minilm

writes spanqa/models/default/: config.json, model.safetensors (fp16, for the torch backend and for
fine-tuning), model.int8.onnx (dynamic int8, what `Reader.load()` runs by default on a CPU: it
starts without importing torch), the tokenizer files and spanqa.json with the reader defaults
and the shipped no-answer threshold. MODEL_CARD.md in that folder is written by hand from the
commands it quotes, and is kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from spanqa.inference.runtime.onnx_export import export_onnx
from spanqa.model.folder import DEFAULT_MODEL_DIR, ONNX_FILES, ModelInfo, read_model_info, training_runs
from spanqa.model.torch_io import load_model, save_model
from spanqa.settings import ReaderSettings

REPO = Path(__file__).resolve().parent.parent
PATH_KEYS = ("base", "out", "eval_file", "logdir", "checkpoint_dir")

# Chosen without looking at any dev file: answer "no answer" when the reader finds it more likely
# than all answer spans together (the Bayes decision for 0/1 loss).
SHIPPED_NULL_THRESHOLD = 0.5


def _portable(path: str | None) -> str | None:
    """A path that means something on another machine: relative to the repo, or inside site-packages."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    if "site-packages" in resolved.parts:
        inside = resolved.parts[resolved.parts.index("site-packages") + 1 :]
        return "<site-packages>/" + "/".join(inside)
    return os.path.relpath(resolved, REPO)


def portable_training_runs(folder: Path) -> list[dict[str, Any]]:
    """The training runs that made `folder` (oldest first), with paths that mean something elsewhere."""
    runs = []
    for training in training_runs(folder):
        run = dict(training)
        for key in PATH_KEYS:
            run[key] = _portable(run.get(key))
        run["train_files"] = [_portable(path) for path in run.get("train_files", [])]
        runs.append(run)
    # A run shipped part-way (an interim default model that the run's --base then pointed at)
    # and finished later is in the history twice: keep only its last part, the one shipped now.
    last_part = {run["out"]: index for index, run in enumerate(runs)}
    return [run for index, run in enumerate(runs) if last_part[run["out"]] == index]


def heldout_evaluation(folder: Path) -> dict[str, Any] | None:
    """The held-out evaluation `spanqa train --eval` recorded for these weights (its step), if any."""
    evaluation = read_model_info(folder).extra.get("eval")
    return evaluation if isinstance(evaluation, dict) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trained", type=Path, help="model folder written by spanqa train")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()

    loaded = load_model(args.trained)
    training = portable_training_runs(args.trained)
    evaluation = heldout_evaluation(args.trained)
    if evaluation is not None and training:  # e.g. OUT/best: the weights of that step, not of the run's end
        training[-1]["heldout_eval"] = evaluation
    reader = ReaderSettings(null_threshold=SHIPPED_NULL_THRESHOLD)  # inference defaults: 384 / 128 / 64 / 30
    info = ModelInfo(
        head=loaded.info.head,
        settings=reader,
        extra={"name": "spanqa-minilm-l6-squad", "training": training, "model_card": "MODEL_CARD.md"},
    )
    card = args.out / "MODEL_CARD.md"
    kept_card = None
    if card.exists():
        kept_card = Path(tempfile.mkdtemp()) / "MODEL_CARD.md"
        shutil.copy2(card, kept_card)
    save_model(loaded.model, loaded.tokenizer, info, args.out, dtype=torch.float16)
    if kept_card is not None:
        shutil.copy2(kept_card, card)
    # The int8 export is checked against the fp32 torch logits of the trained model itself.
    with tempfile.TemporaryDirectory() as tmp:
        result = export_onnx(args.trained, Path(tmp) / "onnx", int8=True)
        print(f"int8 export: {result}")
        shutil.copy2(Path(tmp) / "onnx" / ONNX_FILES["int8"], args.out / ONNX_FILES["int8"])
    print(f"default model written to {args.out}")


if __name__ == "__main__":
    main()
