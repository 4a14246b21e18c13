"""How the xformers backend splits one layer's attention into pieces xformers computes, independent of xformers.

Tensors are in xformers' ``[B, M, H, K]`` layout. For a layout with text length ``T`` and an ``h x w`` grid:

- text queries: causal attention over the text keys (``causal``);
- image queries: two partial attentions, one over all text keys (no bias) and one over the image keys with the
  layer's bias, merged by log-sum-exp:
  ``full`` -> ``causal``; ``row`` -> ``local`` (``LocalAttentionFromBottomRightMask(window_left=w,
  window_right=0)``); ``column`` -> ``block_causal`` over the transposed grid (``BlockDiagonalCausalMask`` with
  one block of ``h`` per column and batch element); ``conv`` -> a ``tensor`` bias (0 / -inf).

:func:`attend` runs this plan with any ``ops`` (``partial(q, k, v, bias) -> (out [B,M,H,K], lse [B,H,M])`` and
``merge(outs, lses) -> out``). :class:`TorchOps` materialises each bias exactly as xformers documents it, so the
plan is checked against the dense reference on the CPU; the CUDA backend passes xformers' own ops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from genkit.attention import AttentionLayout, image_mask


@dataclass(frozen=True)
class Bias:
    """One xformers attention bias, by name: ``none``, ``causal``, ``local``, ``block_causal``, ``tensor``."""

    kind: str
    window_left: int = 0
    seqlens: tuple[int, ...] = ()
    tensor: torch.Tensor | None = field(default=None, compare=False)

    def materialize(self, queries: int, keys: int, device=None) -> torch.Tensor:
        """Additive float mask ``[.., queries, keys]`` (0 or -inf) with xformers' semantics."""
        qi = torch.arange(queries, device=device)[:, None]
        ki = torch.arange(keys, device=device)[None, :]
        if self.kind == "none":
            allowed = torch.ones(queries, keys, dtype=torch.bool, device=device)
        elif self.kind == "causal":  # LowerTriangularMask: top-left aligned
            allowed = ki <= qi
        elif self.kind == "local":  # LocalAttentionFromBottomRightMask: q - left <= k + s <= q, s = Mq - Mk
            shifted = ki + (queries - keys)
            allowed = (qi - self.window_left <= shifted) & (shifted <= qi)
        elif self.kind == "block_causal":  # BlockDiagonalCausalMask over equal q/k seqlens
            starts = torch.repeat_interleave(
                torch.tensor([sum(self.seqlens[:i]) for i in range(len(self.seqlens))], device=device),
                torch.tensor(self.seqlens, device=device),
            )
            allowed = (starts[:, None] == starts[None, :]) & (ki <= qi)
        elif self.kind == "tensor":
            return self.tensor
        else:
            raise ValueError(f"unknown bias kind {self.kind!r}")
        zeros = torch.zeros(queries, keys, device=device)
        return zeros.masked_fill(~allowed, float("-inf"))


def image_bias(layout: AttentionLayout, batch: int, heads: int, device, dtype) -> Bias:
    """The bias of the image -> image partial attention (the grid is already transposed for ``column``)."""
    h, w = layout.grid
    kind = layout.layer_type
    if kind == "full":
        return Bias("causal")
    if kind == "row":
        return Bias("local", window_left=w)
    if kind == "column":
        return Bias("block_causal", seqlens=(h,) * (batch * w))
    n = h * w
    padded = -(-n // 8) * 8  # xformers wants the bias rows 8-aligned in memory
    storage = torch.zeros(batch, heads, n, padded, device=device, dtype=dtype)
    bias = storage[..., :n]
    bias.masked_fill_(~image_mask(layout, device), float("-inf"))
    return Bias("tensor", tensor=bias)


def column_order(grid: tuple[int, int], device=None) -> torch.Tensor:
    """Raster indices in column-major order: position ``i`` of the transposed grid holds raster index ``order[i]``."""
    h, w = grid
    return torch.arange(h * w, device=device).view(h, w).t().reshape(-1)


def image_attention(ops, layout: AttentionLayout, q, k, v):
    """Image queries against image keys with the layer's bias: ``(out [B,N,H,K], lse [B,H,N])``."""
    batch, n, heads, dim = q.shape
    bias = image_bias(layout, batch, heads, q.device, q.dtype)
    if layout.layer_type != "column":
        return ops.partial(q, k, v, bias)
    order = column_order(layout.grid, q.device)
    inverse = torch.argsort(order)
    packed = [x[:, order].reshape(1, batch * n, heads, dim) for x in (q, k, v)]
    out, lse = ops.partial(*packed, bias)
    out = out.reshape(batch, n, heads, dim)[:, inverse]
    lse = lse.reshape(heads, batch, n).transpose(0, 1)[:, :, inverse]
    return out, lse


def attend(ops, layout: AttentionLayout, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The layer's attention for ``q, k, v [B, S, H, K]`` -> ``[B, S, H, K]``, assembled from partials."""
    t = layout.text_length
    image_out, image_lse = image_attention(ops, layout, q[:, t:], k[:, t:], v[:, t:])
    if t == 0:
        return image_out
    text_out, _ = ops.partial(q[:, :t], k[:, :t], v[:, :t], Bias("causal"))
    cross_out, cross_lse = ops.partial(q[:, t:], k[:, :t], v[:, :t], Bias("none"))
    merged = ops.merge([image_out, cross_out], [image_lse, cross_lse])
    return torch.cat([text_out.to(merged.dtype), merged], dim=1)


class TorchOps:
    """Dense torch versions of the two xformers operations the plan needs (CPU checks and fallbacks)."""

    @staticmethod
    def partial(q, k, v, bias: Bias):
        scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) * scale
        scores = scores + bias.materialize(q.shape[1], k.shape[1], q.device).float()
        lse = scores.logsumexp(dim=-1)
        out = torch.einsum("bhqk,bkhd->bqhd", (scores - lse[..., None]).exp(), v.float())
        return out.to(q.dtype), lse

    @staticmethod
    def merge(outs, lses):
        total = torch.stack(lses).logsumexp(dim=0)
        merged = sum(o.float() * (l - total).exp().transpose(1, 2)[..., None] for o, l in zip(outs, lses))
        return merged.to(outs[0].dtype)
