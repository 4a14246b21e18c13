"""Boolean attention masks (``True`` = may attend) for an :class:`AttentionLayout`.

``attention_mask`` is the vectorised builder the backends use; ``reference_mask`` is the slow per-pair builder,
written straight from the layout's definition, that tests check everything else against.
"""

from __future__ import annotations

import torch

from genkit.attention.layout import AttentionLayout


def pair_allowed(layout: AttentionLayout, query: int, key: int) -> bool:
    """Whether stream position ``query`` may attend stream position ``key`` (the definition, one pair at a time)."""
    if key > query:
        return False
    t = layout.text_length
    if query < t or key < t:
        return True
    n, m = query - t, key - t
    h, w = layout.grid
    kind = layout.layer_type
    if kind == "full":
        return True
    if kind == "row":
        return n - m <= w
    if kind == "column":
        return (n - m) % w == 0
    radius = layout.conv_kernel // 2
    return abs(n // w - m // w) <= radius and abs(n % w - m % w) <= radius


def reference_mask(layout: AttentionLayout) -> torch.Tensor:
    """``BoolTensor[S, S]`` built pair by pair with :func:`pair_allowed` (slow; for tests)."""
    size = layout.length
    rows = [[pair_allowed(layout, p, q) for q in range(size)] for p in range(size)]
    return torch.tensor(rows, dtype=torch.bool).reshape(size, size)


def image_mask(layout: AttentionLayout, device: torch.device | str | None = None) -> torch.Tensor:
    """``BoolTensor[N, N]``: which image keys each image query attends (``N = h*w``, raster order)."""
    h, w = layout.grid
    n = torch.arange(h * w, device=device)
    diff = n[:, None] - n[None, :]
    causal = diff >= 0
    kind = layout.layer_type
    if kind == "full":
        return causal
    if kind == "row":
        return causal & (diff <= w)
    if kind == "column":
        return causal & (diff % w == 0)
    radius = layout.conv_kernel // 2
    rows, cols = n // w, n % w
    near_rows = (rows[:, None] - rows[None, :]).abs() <= radius
    near_cols = (cols[:, None] - cols[None, :]).abs() <= radius
    return causal & near_rows & near_cols


def attention_mask(layout: AttentionLayout, device: torch.device | str | None = None) -> torch.Tensor:
    """``BoolTensor[S, S]`` for the whole stream (vectorised; what the SDPA backend uses)."""
    t, size = layout.text_length, layout.length
    mask = torch.ones(size, size, dtype=torch.bool, device=device).tril_()
    mask[t:, t:] = image_mask(layout, device)
    return mask
