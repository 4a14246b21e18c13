"""Pieces every transformer prior over [caption tokens ; image tokens] shares, whatever its decoding order.

- :func:`filter_logits`: temperature, top-k and nucleus (top-p) filtering of the image-vocabulary logits.
- :class:`CaptionPads`: DALL-E's learned pad per caption position. Positions ``>= length`` of a caption hold the
  pad id of that position (``text_vocab_size + t``), so the prior needs no padding mask; the all-pads caption is
  the null condition of classifier-free guidance.
- :func:`prior_sizes`: what a prior's build takes from its :class:`genkit.BuildContext` (the tokenizer's
  vocabulary and length, the autoencoder's vocabulary and grid), each a one-line error when the recipe lacks it.
- :func:`gpt2_init`: GPT-2's initialisation (normal weights, zero biases, the residual branches' output projections
  scaled by ``1/sqrt(2 * depth)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from genkit.plugins.context import BuildContext


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """``logits / temperature`` with everything outside the top-k / nucleus set to ``-inf`` (a new tensor)."""
    logits = logits / temperature if temperature != 1.0 else logits.clone()
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= top_p  # the most likely token always stays
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def prior_sizes(context: BuildContext) -> dict[str, Any]:
    """``text_vocab_size``, ``text_length``, ``image_vocab_size`` and ``image_grid`` (a tuple) from ``context``."""
    return {
        "text_vocab_size": context.require("text_vocab_size"),
        "text_length": context.require("text_length"),
        "image_vocab_size": context.require("image_vocab_size"),
        "image_grid": tuple(context.require("image_grid")),
    }


class CaptionPads:
    """Mixin of a prior with ``text_vocab_size`` and ``text_length``: its text embedding has
    ``text_vocab_size + text_length`` rows, the last ``text_length`` being the pads of each position."""

    text_vocab_size: int
    text_length: int

    def fill_text(self, text_ids: torch.Tensor, text_lengths: torch.Tensor) -> torch.Tensor:
        """``text_ids`` with every position ``t >= length`` replaced by that position's pad id (a new tensor)."""
        t = self.text_length
        if text_ids.shape[-1] != t:
            raise ValueError(f"text_ids has {text_ids.shape[-1]} positions; this prior was built for text_length {t}")
        positions = torch.arange(t, device=text_ids.device)
        pads = self.text_vocab_size + positions
        return torch.where(positions[None, :] < text_lengths.to(text_ids.device)[:, None], text_ids, pads[None, :])

    def null_text(self, batch: int, device: torch.device) -> torch.Tensor:
        """The empty caption (all pads): the unconditional input of classifier-free guidance."""
        return (self.text_vocab_size + torch.arange(self.text_length, device=device)).expand(batch, -1)


def gpt2_init(model: nn.Module, std: float, branch_outputs: Iterable[nn.Linear], depth: int) -> None:
    """Normal(0, ``std``) for every Linear and Embedding weight of ``model``, zero biases, then Normal(0,
    ``std / sqrt(2 * depth)``) for ``branch_outputs`` (the last projection of each attention and MLP branch)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    for layer in branch_outputs:
        nn.init.normal_(layer.weight, 0.0, std / math.sqrt(2 * depth))
