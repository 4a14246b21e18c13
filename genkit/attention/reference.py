"""The slow dense reference attention every backend is tested against."""

from __future__ import annotations

import math

import torch

from genkit.attention.layout import AttentionLayout
from genkit.attention.masks import reference_mask


class ReferenceAttention:
    """Explicit ``softmax(q k^T / sqrt(d) + mask) v`` in float64 over the per-pair :func:`reference_mask`.

    Slow and memory-hungry on purpose: it is the definition, not a backend to train with.
    """

    name = "reference"

    def __init__(self, layout: AttentionLayout) -> None:
        self.layout = layout
        self._mask = reference_mask(layout)

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention of the stream's first ``q.shape[-2]`` positions (all of it, or a prefix)."""
        size = q.shape[-2]
        return reference_attention(q, k, v, self._mask[:size, :size].to(q.device))


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked attention in float64 for ``q [.., Sq, D]``, ``k, v [.., Sk, D]``, ``mask [Sq, Sk]`` (True = attend)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q.double() @ k.double().transpose(-1, -2)) * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(dim=-1) @ v.double()).to(q.dtype)
