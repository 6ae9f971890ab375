"""Evaluation during training: the official SQuAD metric on --eval, the best model kept in OUT/best."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from spanqa.data import load_squad_json
from spanqa.data.squad import examples_from_squad, restrict_to_ids
from spanqa.evaluation.metrics import squad_metrics
from spanqa.inference.reader import Reader
from spanqa.inference.runtime.torch import TorchRuntime
from spanqa.model.folder import ModelInfo
from spanqa.model.torch_io import save_model
from spanqa.training.config import TrainConfig
from spanqa.training.logs import RunLog


class TrainingEvaluation:
    """Scores the model being trained on `config.eval_file` (main process) and keeps the best one.

    The schedule and the best-model bookkeeping are shared by every task; a task's evaluation
    overrides `score` (its metrics and their headline number, higher is better), `summary` and
    `save_best` (see training/classify_task.py).
    """

    def __init__(
        self, config: TrainConfig, accelerator, model, tokenizer, info: ModelInfo, run_log: RunLog, say: Callable
    ) -> None:
        self.config = config
        self.accelerator = accelerator
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.run_log = run_log
        self.say = say

    def due_after_step(self, step: int) -> bool:
        return bool(self.config.eval_file and self.config.eval_every and step % self.config.eval_every == 0)

    def due_at_end(self, step: int) -> bool:
        """The last step's model is always scored, unless the step just did."""
        return bool(self.config.eval_file) and not self.due_after_step(step)

    def evaluate(self, step: int, best: float | None) -> float | None:
        """Every process calls this; returns the best headline score so far (updated on the main process only)."""
        was_training = self.model.training
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            metrics, headline, logged = self.score()
            self.run_log.write(step, logged)
            self.say(f"\nstep {step:,}: {self.summary(metrics)}")
            if best is None or headline > best:
                best = headline
                self.save_best(step, metrics)
        self.accelerator.wait_for_everyone()
        self.model.train(was_training)
        return best

    def score(self) -> tuple[dict[str, Any], float, dict[str, float]]:
        """(the metrics, the number that picks the best model, what goes to the run log)."""
        dataset = load_squad_json(self.config.eval_file)
        examples = examples_from_squad(dataset)
        if self.config.eval_limit is not None:
            examples = examples[: self.config.eval_limit]
        has_impossible = any(e.is_impossible for e in examples)
        runtime = TorchRuntime(self.unwrapped(), precision=self.config.precision, device=str(self.accelerator.device))
        reader = Reader(runtime, self.tokenizer, self.info)
        predictions = reader.predict(
            examples, batch_size=self.config.eval_batch_size, handle_impossible_answer=has_impossible
        )
        metrics = squad_metrics(
            restrict_to_ids(dataset, {e.id for e in examples}),
            {p.example_id: p.best_text for p in predictions},
            na_probs={p.example_id: p.no_answer_probability for p in predictions} if has_impossible else None,
        )
        metrics = {**metrics, "questions": len(examples)}
        f1 = float(metrics["f1"])
        return metrics, f1, {"eval_exact": float(metrics["exact"]), "eval_f1": f1}

    def summary(self, metrics: dict[str, Any]) -> str:
        return f"eval EM {metrics['exact']:.2f} F1 {metrics['f1']:.2f} on {metrics['questions']:,} questions"

    def save_best(self, step: int, metrics: dict[str, Any]) -> None:
        info = self.info.replace(extra={**self.info.extra, "eval": {"step": step, **metrics}})
        save_model(self.unwrapped(), self.tokenizer, info, Path(self.config.out) / "best")

    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)
