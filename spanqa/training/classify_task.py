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
from spanqa.classify.inputs import TextWindow, encode_items
from spanqa.classify.settings import ClassifierSettings
from spanqa.errors import DataFileError
from spanqa.evaluation.classification import check_known_labels, classification_metrics
from spanqa.inference.features import pad_windows
from spanqa.inference.pipeline import pad_token_id
from spanqa.model.classifier_io import load_classifier_model, save_classifier
from spanqa.model.folder import ModelInfo
from spanqa.training.config import TrainConfig
from spanqa.training.evaluate import TrainingEvaluation
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
        batch = pad_windows([self.windows[i] for i in indices], self.pad_id)
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


class ClassificationEvaluation(TrainingEvaluation):
    """Macro F1 on --eval during training (main process); the best model is kept in OUT/best."""

    def __init__(self, task: ClassificationTask, accelerator, model, tokenizer, info: ModelInfo, run_log: RunLog):
        super().__init__(task.config, accelerator, model, tokenizer, info, run_log, task.say)
        self.task = task

    def summary(self, metrics: dict[str, Any]) -> str:
        return (
            f"eval accuracy {metrics['accuracy']:.2f} macro F1 {metrics['macro_f1']:.2f} on {metrics['total']:,} rows"
        )

    def save_best(self, step: int, metrics: dict[str, Any]) -> None:
        info = self.info.replace(extra={**self.info.extra, "eval": {"step": step, **metrics}})
        save_classifier(self.unwrapped(), self.tokenizer, info, Path(self.config.out) / "best")

    def score(self) -> tuple[dict[str, Any], float, dict[str, float]]:
        from spanqa.classify.classifier import Classifier
        from spanqa.inference.runtime.classifier import TorchClassifierRuntime

        rows = self.task.read_rows(self.config.eval_file) if self.config.eval_file else []
        if self.config.eval_limit is not None:
            rows = rows[: self.config.eval_limit]
        gold = [self.task.gold_labels(row) for row in rows]
        check_known_labels(gold, self.task.labels, self.config.eval_file or "--eval")
        unwrapped = self.unwrapped()
        runtime = TorchClassifierRuntime(
            unwrapped, precision=self.config.precision, device=str(self.accelerator.device)
        )
        classifier = Classifier(runtime, self.tokenizer, self.info, unwrapped.config.to_dict(), name="training")
        results = classifier.classify([row.item for row in rows], batch_size=self.config.eval_batch_size)
        predicted = [
            [labels[0].label] if not classifier.multi_label else [x.label for x in labels] for labels in results
        ]
        metrics = classification_metrics(gold, predicted, self.task.labels)
        macro_f1 = float(metrics["macro_f1"])
        return metrics, macro_f1, {"eval_accuracy": float(metrics["accuracy"]), "eval_macro_f1": macro_f1}
