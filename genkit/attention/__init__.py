"""Attention patterns of the DALL-E prior and the backends that compute them (public: plugins import this).

- :class:`AttentionLayout`: text length, image grid, layer type (``full``, ``row``, ``column``, ``conv``).
- :func:`attention_mask` (vectorised) and :func:`reference_mask` (slow, per pair): ``BoolTensor[S, S]``.
- :class:`ReferenceAttention`: the dense float64 definition backends are tested against.
- :class:`SDPAAttention`: the built-in backend (``genkit.attention.plugin`` answers ``genkit_select_attention``
  last); :func:`select_attention` asks the plugins for a backend.
"""

from __future__ import annotations

from typing import Any

import torch

from genkit.attention.layout import LAYER_TYPES, AttentionLayout, paper_schedule
from genkit.attention.masks import attention_mask, image_mask, pair_allowed, reference_mask
from genkit.attention.reference import ReferenceAttention, reference_attention
from genkit.attention.sdpa import SDPAAttention, decode_attention, layout_mask


def select_attention(
    device: torch.device | str, dtype: torch.dtype, layout: AttentionLayout, plugins: Any = None
) -> Any:
    """The backend the plugins choose for ``layout`` on ``device``/``dtype`` (first-result hook
    ``genkit_select_attention``); SDPA when no plugin answers (e.g. plugins replaced in a test)."""
    if plugins is None:
        from genkit.plugins.manager import get_plugins

        plugins = get_plugins()
    backend = plugins.hook.genkit_select_attention(device=torch.device(device), dtype=dtype, layout=layout)
    return backend if backend is not None else SDPAAttention(layout)


__all__ = [
    "LAYER_TYPES",
    "AttentionLayout",
    "ReferenceAttention",
    "SDPAAttention",
    "attention_mask",
    "decode_attention",
    "image_mask",
    "layout_mask",
    "pair_allowed",
    "paper_schedule",
    "reference_attention",
    "reference_mask",
    "select_attention",
]
