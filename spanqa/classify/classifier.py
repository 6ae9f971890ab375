"""The Classifier: load a sequence-classification folder, label texts. Glue over stages.py."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spanqa.classify.inputs import Item, check_items, encode_items
from spanqa.classify.labels import LabelScore, ProblemType, probabilities, ranked_labels
from spanqa.classify.settings import ClassifierSettings
from spanqa.classify.stages import RunBatch, item_logits, run_text_windows
from spanqa.errors import ConfigError, InputError, ModelFolderError
from spanqa.inference.pipeline import pad_token_id
from spanqa.inference.runtime import load_runtime
from spanqa.model.folder import ModelInfo

# Position embeddings that RoBERTa-style models reserve before the first token (padding index + 1).
OFFSET_POSITIONS = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}


class Classifier:
    """Labels texts (or text pairs) with a Hugging Face sequence-classification model.

    >>> classifier = Classifier.load("my-classifier")
    >>> classifier.classify("I loved it")[0]          # LabelScore(label='positive', score=0.97)
    >>> classifier.classify([("q?", "paragraph"), "text"], top_k=1)   # one list of labels per item
    """

    def __init__(self, runtime, tokenizer, info: ModelInfo, model_config: dict[str, Any], name: str = "model"):
        self.runtime = runtime
        self.tokenizer = tokenizer
        self.info = info
        self.name = name
        self.id2label = labels_of(model_config)
        self.problem_type: ProblemType = (
            "multi_label_classification"
            if model_config.get("problem_type") == "multi_label_classification"
            else "single_label_classification"
        )
        saved = ClassifierSettings.from_dict(info.extra.get("classifier", {}))
        limit = longest_input(model_config)
        if "max_seq_len" not in info.extra.get("classifier", {}) and limit is not None:
            saved = saved.replace(max_seq_len=min(saved.max_seq_len, limit))
        self.settings = saved

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: str = "auto",
        precision: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        spin_wait: bool = True,
        **settings: Any,
    ) -> Classifier:
        """Load any Hugging Face sequence-classification folder (or its `spanqa export` ONNX copy).

        `settings` override the folder's ClassifierSettings (max_seq_len, long_text, stride, threshold, batch_size).
        """
        if path is None:
            raise ModelFolderError(
                "no classifier ships with spanqa: pass a sequence-classification folder (--model PATH), or train one "
                "with `spanqa train --task classify --base ENCODER --train data.csv --text-column text "
                "--label-column label --out MODEL_DIR`"
            )
        loaded = load_runtime(
            path,
            backend=backend,
            precision=precision,
            device=device,
            threads=threads,
            spin_wait=spin_wait,
            task="classify",
        )
        config = read_model_config(Path(loaded.folder))
        classifier = cls(loaded.runtime, loaded.tokenizer, loaded.info, config, name=Path(loaded.folder).name)
        classifier.settings = classifier.settings.replace(**settings)
        return classifier

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.id2label[i] for i in range(len(self.id2label)))

    @property
    def multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    def classify(
        self,
        texts: Item | Sequence[Item],
        top_k: int | None = None,
        threshold: float | None = None,
        batch_size: int | None = None,
        **settings: Any,
    ) -> list[list[LabelScore]]:
        """Per item, its labels with scores, best first; `top_k` None gives every label.

        Single-label models score with one softmax over the labels; multi-label models (config
        problem_type "multi_label_classification") with one sigmoid per label, keeping those scored at
        least `threshold` (default: the settings' 0.5), so an item may get no label at all.
        """
        return self.run(texts, top_k, threshold, batch_size, **settings).labels

    def run(
        self,
        texts: Item | Sequence[Item],
        top_k: int | None = None,
        threshold: float | None = None,
        batch_size: int | None = None,
        record: list[RunBatch] | None = None,
        **settings: Any,
    ) -> ClassifiedItems:
        """All three stages, keeping the logits and probabilities (what `--explain` and evaluation read)."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"top_k must be a positive integer or None, got {top_k!r}")
        chosen = self.settings.replace(threshold=threshold, batch_size=batch_size, **settings)
        items, _ = check_items(texts)
        windows = encode_items(self.tokenizer, items, chosen)
        window_logits = run_text_windows(self.runtime, windows, chosen.batch_size, pad_token_id(self.tokenizer), record)
        if window_logits.shape[1] != len(self.id2label):
            raise ModelFolderError(
                f"the model gives {window_logits.shape[1]} logits but config.json's id2label names "
                f"{len(self.id2label)} labels: fix id2label in {self.name}/config.json"
            )
        logits = item_logits(windows, window_logits, len(items))
        probs = probabilities(logits, self.problem_type)
        labels = [ranked_labels(row, self.id2label, self.problem_type, top_k, chosen.threshold) for row in probs]
        return ClassifiedItems(items, windows, logits, probs, labels, chosen)


class ClassifiedItems:
    """What one run produced, stage by stage."""

    def __init__(self, items, windows, logits: np.ndarray, probs: np.ndarray, labels, settings) -> None:
        self.items = items
        self.windows = windows
        self.logits = logits  # [N, C]
        self.probabilities = probs  # [N, C]
        self.labels: list[list[LabelScore]] = labels
        self.settings: ClassifierSettings = settings


def read_model_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFolderError(f"{folder / 'config.json'} cannot be read ({error})") from error
    if not isinstance(config, dict):
        raise ModelFolderError(f"{folder / 'config.json'} should hold a JSON object")
    return config


def labels_of(config: dict[str, Any]) -> dict[int, str]:
    """{label id: name} from config.json's id2label (LABEL_0, LABEL_1, ... when it has none)."""
    raw = config.get("id2label")
    if not raw:
        count = int(config.get("num_labels", 2))
        return {i: f"LABEL_{i}" for i in range(count)}
    try:
        labels = {int(key): str(value) for key, value in raw.items()}
    except (AttributeError, ValueError) as error:
        raise ConfigError(f"config.json's id2label must map label ids to names, got {raw!r}") from error
    if sorted(labels) != list(range(len(labels))):
        raise ModelFolderError(
            f"config.json's id2label must number its labels 0..{len(labels) - 1}, got {sorted(labels)}"
        )
    return labels


def longest_input(config: dict[str, Any]) -> int | None:
    """The most tokens the model's position embeddings allow (None when config.json does not say)."""
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int):
        return None
    return positions - OFFSET_POSITIONS.get(config.get("model_type", ""), 0)
