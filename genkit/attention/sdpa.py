"""The default backend: ``torch.nn.functional.scaled_dot_product_attention`` with a boolean mask."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from genkit.attention.layout import AttentionLayout
from genkit.attention.masks import attention_mask


@lru_cache(maxsize=64)
def _mask_on(layout: AttentionLayout, device: str) -> torch.Tensor:
    return attention_mask(layout, device)


def layout_mask(layout: AttentionLayout, device: torch.device | str) -> torch.Tensor:
    """The layout's ``BoolTensor[S, S]`` on ``device``, built once per (layout, device) and shared (read-only)."""
    return _mask_on(layout, str(torch.device(device)))


class SDPAAttention:
    """SDPA over the whole stream. ``full`` layers use ``is_causal=True`` (no mask tensor, flash kernels);
    the sparse layers pass the layout's boolean mask.

    ``__call__(q, k, v)``: tensors ``[B, H, S, D]`` for the first ``S <= layout.length`` stream positions.
    ``decode(q, k, v, start)``: queries at stream positions ``[start, start + n)`` against the cached keys
    ``[0, start + n)`` (KV-cache sampling); same numbers as the rows of ``__call__``.
    """

    name = "sdpa"

    def __init__(self, layout: AttentionLayout) -> None:
        self.layout = layout

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        size = q.shape[-2]
        if self.layout.is_causal:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        mask = layout_mask(self.layout, q.device)[:size, :size]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    def decode(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> torch.Tensor:
        return decode_attention(self.layout, q, k, v, start)


def decode_attention(
    layout: AttentionLayout, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int
) -> torch.Tensor:
    """Attention of the queries at positions ``[start, start + q.shape[-2])`` over keys ``[0, k.shape[-2])``."""
    stop = start + q.shape[-2]
    if q.shape[-2] == 1 and layout.is_causal:
        return F.scaled_dot_product_attention(q, k[..., :stop, :], v[..., :stop, :])
    mask = layout_mask(layout, q.device)[start:stop, :stop]
    return F.scaled_dot_product_attention(q, k[..., :stop, :], v[..., :stop, :], attn_mask=mask)
