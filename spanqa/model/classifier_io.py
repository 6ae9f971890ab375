"""Load and save sequence-classification folders with torch and transformers.

A classifier folder is a plain transformers AutoModelForSequenceClassification folder (config.json
with id2label and problem_type, weights, a fast tokenizer) plus spanqa.json with `"task": "classify"`
and the classifier's defaults; anything saved here loads back in transformers unchanged.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path

from spanqa.errors import ModelFolderError
from spanqa.fileio import make_permissions_normal, staged_folder, swap_folder, write_json_atomic
from spanqa.model.folder import SETTINGS_FILE, ModelInfo, model_info_payload, read_model_info, resolve_model_path

ProblemType = str  # "single_label_classification" or "multi_label_classification"


def _sequence_classifier_class():
    import torch

    class SequenceClassifier(torch.nn.Module):
        """transformers' sequence classifier as spanqa runs it: `forward` returns the logits [B, C] only,
        and drops token_type_ids for models that take none (DistilBERT, RoBERTa's exports)."""

        head_type = "classifier"

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.classifier_model = model
            self.accepts_token_type_ids = "token_type_ids" in inspect.signature(model.forward).parameters

        @property
        def config(self):
            return self.classifier_model.config

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None and self.accepts_token_type_ids:
                inputs["token_type_ids"] = token_type_ids
            return self.classifier_model(**inputs).logits  # [B, C]

    return SequenceClassifier


def wrap_classifier(model):
    """A transformers AutoModelForSequenceClassification as a SequenceClassifier (logits out)."""
    return _sequence_classifier_class()(model)


@dataclass
class LoadedClassifier:
    model: object  # a SequenceClassifier
    tokenizer: object
    info: ModelInfo
    path: Path


def load_classifier_model(
    path: str | os.PathLike[str] | None,
    *,
    for_training: bool = False,
    labels: tuple[str, ...] | None = None,
    problem_type: ProblemType | None = None,
) -> LoadedClassifier:
    """Load a sequence-classification folder; with `for_training`, any encoder gets a fresh head for `labels`."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification

    from spanqa.model.torch_io import load_tokenizer, quiet_transformers

    resolved = resolve_model_path(path)
    info = read_model_info(resolved) if Path(resolved).exists() else ModelInfo()
    tokenizer = load_tokenizer(resolved)
    options = {}
    if labels is not None:
        options = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
            "problem_type": problem_type or "single_label_classification",
            "ignore_mismatched_sizes": True,
        }
    previous = quiet_transformers()
    from transformers.utils import logging as hf_logging

    try:
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            resolved, output_loading_info=True, dtype=torch.float32, **options
        )
    except SafetensorError as error:
        raise ModelFolderError(
            f"the weights in {resolved} are truncated or corrupt ({error}): copy it again"
        ) from error
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelFolderError(f"cannot load a sequence classifier from {resolved}: {error}") from error
    finally:
        hf_logging.set_verbosity(previous)
    fresh_head = bool(loading.get("missing_keys")) or bool(loading.get("mismatched_keys"))
    if fresh_head and not for_training:
        raise ModelFolderError(
            f"{resolved} holds no trained classification head: train one with "
            f"`spanqa train --task classify --base {resolved} ...`"
        )
    if tokenizer.pad_token_id is not None and model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id  # transformers needs it to batch GPT-style models
    classifier = wrap_classifier(model)
    classifier.eval()
    return LoadedClassifier(classifier, tokenizer, info.replace(task="classify"), Path(resolved))


def save_classifier(model, tokenizer, info: ModelInfo, folder: str | os.PathLike[str], keep_other_files: bool = False):
    """Write a classifier folder atomically (transformers' layout plus spanqa.json with task "classify")."""
    from spanqa.model.torch_io import move_files_into, quiet_transformers

    inner = model.classifier_model
    with staged_folder(folder, install=move_files_into if keep_other_files else swap_folder) as staging:
        quiet_transformers()
        inner.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json_atomic(staging / SETTINGS_FILE, model_info_payload(info.replace(task="classify")))
        for path in staging.iterdir():
            make_permissions_normal(path)
