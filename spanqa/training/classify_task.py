"""`spanqa train --task classify`: what the training loop needs for a sequence classifier.

The loop (loop.py) stays the same (batches, accumulation, schedule, checkpoints, logs, resume,
accelerate); this module supplies the model, the data (tokenized rows, with `tensors()` like the
reader's TrainingData), the loss, the evaluation on --eval and the saved folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from spanqa.classify.data import LabelledText, read_labelled, split_labels
from spanqa.classify.inputs import TextWindow, encode_items, pad_text_windows
from spanqa.classify.settings import ClassifierSettings
from spanqa.errors import DataFileError
from spanqa.evaluation.classification import check_known_labels, classification_metrics
from spanqa.inference.pipeline import pad_token_id
from spanqa.model.classifier_io import load_classifier_model, save_classifier
from spanqa.model.folder import ModelInfo
from spanqa.training.config import TrainConfig
from spanqa.training.logs import RunLog


@dataclass
class ClassificationSummary:
    rows: int
    labels: tuple[str, ...]
    counts: dict[str, int]
    truncated: int

    def lines(self) -> list[str]:
        counts = ", ".join(f"{label}: {self.counts[label]:,}" for label in self.labels)
        return [
            f"rows: {self.rows:,}; labels ({len(self.labels)}): {counts}",
            f"texts cut to the window (max_seq_len tokens): {self.truncated:,}",
        ]


@dataclass
class ClassificationData:
    windows: list[TextWindow]
    targets: np.ndarray  # [N] label ids, or [N, C] multi-hot for multi-label data
    lengths: np.ndarray
    summary: ClassificationSummary
    pad_id: int

    def tensors(self, indices: np.ndarray, device) -> dict[str, torch.Tensor]:
        batch = pad_text_windows([self.windows[i] for i in indices], self.pad_id)
        tensors = {name: torch.from_numpy(array).to(device) for name, array in batch.items()}
        tensors["labels"] = torch.from_numpy(self.targets[indices]).to(device)
        return tensors


class ClassificationTask:
    def __init__(self, config: TrainConfig, say: Callable[[str], None]) -> None:
        self.config = config
        self.say = say
        self.settings = ClassifierSettings(max_seq_len=config.max_seq_len, long_text="truncate")
        self.rows = [row for path in config.train_files for row in self.read_rows(path)]
        if config.max_train_examples is not None:
            self.rows = self.rows[: config.max_train_examples]
        if not self.rows:
            raise DataFileError(f"the training data ({', '.join(config.train_files)}) has no rows")
        self.labels = tuple(sorted({label for row in self.rows for label in self.gold_labels(row)}))
        if len(self.labels) < 2 and not config.multi_label:
            raise DataFileError(
                f"the training data has one label only ({self.labels[0]!r}): a classifier needs at least two"
            )

    def read_rows(self, path: str) -> list[LabelledText]:
        config = self.config
        return read_labelled(path, config.text_column, config.label_column, config.text_pair_column)

    def gold_labels(self, row: LabelledText) -> list[str]:
        return split_labels(row.label, self.config.multi_label)

    def load(self):
        problem = "multi_label_classification" if self.config.multi_label else "single_label_classification"
        return load_classifier_model(self.config.base, for_training=True, labels=self.labels, problem_type=problem)

    def prepare(self, tokenizer) -> ClassificationData:
        self.say(f"preparing {len(self.rows):,} training rows ...")
        windows = encode_items(tokenizer, [row.item for row in self.rows], self.settings)
        if self.config.multi_label:
            targets = np.zeros((len(self.rows), len(self.labels)), dtype=np.float32)
            for i, row in enumerate(self.rows):
                targets[i, [self.labels.index(label) for label in self.gold_labels(row)]] = 1.0
        else:
            targets = np.array([self.labels.index(row.label) for row in self.rows], dtype=np.int64)
        counts = {label: sum(label in self.gold_labels(row) for row in self.rows) for label in self.labels}
        truncated = sum(w.length >= self.settings.max_seq_len for w in windows)
        summary = ClassificationSummary(len(self.rows), self.labels, counts, truncated)
        for line in summary.lines():
            self.say(f"  {line}")
        return ClassificationData(
            windows, targets, np.array([w.length for w in windows]), summary, pad_token_id(tokenizer)
        )

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).float()  # [B, C]
        if self.config.multi_label:
            return F.binary_cross_entropy_with_logits(logits, batch["labels"])
        return F.cross_entropy(logits, batch["labels"])

    def info(self) -> ModelInfo:
        extra = {"training": self.config.to_dict(), "classifier": {"max_seq_len": self.config.max_seq_len}}
        return ModelInfo(task="classify", extra=extra)

    save = staticmethod(save_classifier)

    def evaluation(self, accelerator, model, tokenizer, info: ModelInfo, run_log: RunLog) -> ClassificationEvaluation:
        return ClassificationEvaluation(self, accelerator, model, tokenizer, info, run_log)


class ClassificationEvaluation:
    """Macro F1 on --eval during training (main process); the best model is kept in OUT/best.

    The same interface as training/evaluate.py's TrainingEvaluation: the loop calls both alike.
    """

    def __init__(self, task: ClassificationTask, accelerator, model, tokenizer, info: ModelInfo, run_log: RunLog):
        self.task = task
        self.config = task.config
        self.accelerator = accelerator
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.run_log = run_log

    def due_after_step(self, step: int) -> bool:
        return bool(self.config.eval_file and self.config.eval_every and step % self.config.eval_every == 0)

    def due_at_end(self, step: int) -> bool:
        return bool(self.config.eval_file) and not self.due_after_step(step)

    def evaluate(self, step: int, best_f1: float | None) -> float | None:
        was_training = self.model.training
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            metrics = self.score()
            f1 = float(metrics["macro_f1"])
            self.run_log.write(step, {"eval_accuracy": float(metrics["accuracy"]), "eval_macro_f1": f1})
            self.task.say(
                f"\nstep {step:,}: eval accuracy {metrics['accuracy']:.2f} macro F1 {f1:.2f} "
                f"on {metrics['total']:,} rows"
            )
            if best_f1 is None or f1 > best_f1:
                best_f1 = f1
                info = self.info.replace(extra={**self.info.extra, "eval": {"step": step, **metrics}})
                save_classifier(
                    self.accelerator.unwrap_model(self.model), self.tokenizer, info, Path(self.config.out) / "best"
                )
        self.accelerator.wait_for_everyone()
        self.model.train(was_training)
        return best_f1

    def score(self) -> dict[str, Any]:
        from spanqa.classify.classifier import Classifier
        from spanqa.inference.runtime.classifier import TorchClassifierRuntime

        rows = self.task.read_rows(self.config.eval_file) if self.config.eval_file else []
        if self.config.eval_limit is not None:
            rows = rows[: self.config.eval_limit]
        gold = [self.task.gold_labels(row) for row in rows]
        check_known_labels(gold, self.task.labels, self.config.eval_file or "--eval")
        unwrapped = self.accelerator.unwrap_model(self.model)
        runtime = TorchClassifierRuntime(
            unwrapped, precision=self.config.precision, device=str(self.accelerator.device)
        )
        classifier = Classifier(runtime, self.tokenizer, self.info, unwrapped.config.to_dict(), name="training")
        results = classifier.classify([row.item for row in rows], batch_size=self.config.eval_batch_size)
        predicted = [
            [labels[0].label] if not classifier.multi_label else [x.label for x in labels] for labels in results
        ]
        return classification_metrics(gold, predicted, self.task.labels)
