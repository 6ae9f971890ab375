"""Span heads on top of any Hugging Face encoder.

- linear: one linear layer gives a start and an end logit per token (BERT's SQuAD head).
  The model is transformers' AutoModelForQuestionAnswering, so a saved folder loads there too.
- pointer: the end distribution is conditioned on the chosen start, an answer pointer in
  the spirit of pointer networks: end_logit[i, j] = <W_q h_i, W_k h_j> / sqrt(d) + u . h_j.
  Training feeds the gold start (teacher forcing); inference scores every (start, end) pair.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn
from torch.nn import functional as F


class PointerSpanHead(nn.Module):
    def __init__(self, hidden_size: int, initializer_range: float = 0.02) -> None:
        super().__init__()
        self.start = nn.Linear(hidden_size, 1)
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.end_bias = nn.Linear(hidden_size, 1)
        for layer in (self.start, self.query, self.key, self.end_bias):
            nn.init.normal_(layer.weight, std=initializer_range)
            nn.init.zeros_(layer.bias)

    def forward(
        self, hidden: torch.Tensor, start_positions: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # hidden: [B, L, H]
        start_logits = self.start(hidden).squeeze(-1)  # [B, L]
        keys = self.key(hidden)  # [B, L, H]
        bias = self.end_bias(hidden).squeeze(-1)  # [B, L]
        scale = 1.0 / math.sqrt(hidden.shape[-1])
        if start_positions is not None:
            chosen = hidden[torch.arange(hidden.shape[0], device=hidden.device), start_positions]  # [B, H]
            query = self.query(chosen)  # [B, H]
            end_logits = torch.einsum("blh,bh->bl", keys, query) * scale + bias  # [B, L]
        else:
            queries = self.query(hidden)  # [B, L, H]
            end_logits = torch.einsum("bih,bjh->bij", queries, keys) * scale + bias[:, None, :]  # [B, L, L]
        return start_logits, end_logits


class SpanModel(nn.Module):
    """An encoder with a span head; `forward` returns (start_logits, end_logits)."""

    def __init__(self, backbone: nn.Module, head: str) -> None:
        super().__init__()
        self.head_type = head
        # DistilBERT and friends take no segment ids; the tokenizer makes them for every model.
        self.accepts_token_type_ids = "token_type_ids" in inspect.signature(backbone.forward).parameters
        if head == "linear":
            self.qa = backbone  # an AutoModelForQuestionAnswering
        else:
            self.encoder = backbone  # an AutoModel
            self.pointer = PointerSpanHead(
                backbone.config.hidden_size, getattr(backbone.config, "initializer_range", 0.02)
            )

    @property
    def config(self):
        return (self.qa if self.head_type == "linear" else self.encoder).config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.accepts_token_type_ids:
            inputs["token_type_ids"] = token_type_ids
        if self.head_type == "linear":
            output = self.qa(**inputs)
            return output.start_logits, output.end_logits
        hidden = self.encoder(**inputs).last_hidden_state
        return self.pointer(hidden, start_positions)


def span_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
    attention_mask: torch.Tensor,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean of the start and end cross-entropies; padding positions can never be chosen.

    With `label_smoothing` e, each target is (1 - e) on the gold position plus e spread evenly
    over the window's real tokens; padding gets none (torch's own label_smoothing would put
    mass on padding, whose masked logits would then dominate the loss).
    """
    padding = attention_mask == 0
    start_logits = start_logits.float().masked_fill(padding, -1e4)
    end_logits = end_logits.float().masked_fill(padding, -1e4)
    return (
        _smoothed_cross_entropy(start_logits, start_positions, ~padding, label_smoothing)
        + _smoothed_cross_entropy(end_logits, end_positions, ~padding, label_smoothing)
    ) / 2


def _smoothed_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, real: torch.Tensor, smoothing: float
) -> torch.Tensor:
    log_probabilities = F.log_softmax(logits, dim=-1)
    gold = -log_probabilities.gather(1, targets.unsqueeze(1)).squeeze(1)
    if smoothing == 0.0:
        return gold.mean()
    uniform = -(log_probabilities * real).sum(dim=-1) / real.sum(dim=-1).clamp(min=1)
    return ((1.0 - smoothing) * gold + smoothing * uniform).mean()
