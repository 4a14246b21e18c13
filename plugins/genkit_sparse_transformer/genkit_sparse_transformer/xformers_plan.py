"""How the xformers backend splits one layer's attention into pieces xformers computes, independent of xformers.

Tensors are in xformers' ``[B, M, H, K]`` layout. For a layout with text length ``T`` and an ``h x w`` grid:

- text queries: causal attention over the text keys (``causal``);
- image queries: two partial attentions, one over all text keys (no bias) and one over the image keys with the
  layer's bias, merged by log-sum-exp:
  ``full`` -> ``causal``; ``row`` -> ``local`` (``LocalAttentionFromBottomRightMask(window_left=w,
  window_right=0)``); ``column`` -> ``block_causal`` over the transposed grid (``BlockDiagonalCausalMask`` with
  one block of ``h`` per column and batch element); ``conv`` -> a ``tensor`` bias (0 / -inf).

:func:`attend` runs this plan with any ``ops`` that follow :class:`PartialOps`: ``partial`` computes one piece
(an output and its log-sum-exp, kept together), ``rearrange`` reorders a piece along the query axis, ``merge``
combines pieces of the same queries into the attention over the union of their keys. Gradients flow through all
three. :class:`TorchOps` does this densely, materialising each bias exactly as xformers documents it, so the plan
is checked against the dense reference on the CPU; the CUDA backend passes xformers' autograd partials
(``xformers.ops.fmha.merge_training``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from genkit.helpers import AttentionLayout, image_mask


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
            if self.tensor is None:
                raise ValueError("a 'tensor' bias without its tensor")
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


class PartialOps(Protocol):
    """The three operations :func:`attend` needs; a piece is whatever ``partial`` returns."""

    def partial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: Bias) -> Any:
        """Attention of ``q [B,M,H,K]`` over ``k, v [B,N,H,K]`` under ``bias``, with its log-sum-exp."""

    def rearrange(self, piece: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
        """``fn`` applied along the query axis of a ``[B,M,H,K]``-shaped tensor (``K`` untouched)."""

    def merge(self, pieces: list) -> torch.Tensor:
        """The attention of the pieces' (shared) queries over the union of their keys, ``[B,M,H,K]``."""


def image_attention(ops: PartialOps, layout: AttentionLayout, q, k, v):
    """The piece for image queries against image keys with the layer's bias."""
    batch, n, heads, dim = q.shape
    bias = image_bias(layout, batch, heads, q.device, q.dtype)
    if layout.layer_type != "column":
        return ops.partial(q, k, v, bias)
    order = column_order(layout.grid, q.device)
    inverse = torch.argsort(order)
    packed_q, packed_k, packed_v = (x[:, order].reshape(1, batch * n, heads, dim) for x in (q, k, v))
    piece = ops.partial(packed_q, packed_k, packed_v, bias)
    return ops.rearrange(piece, lambda x: x.reshape(batch, n, heads, x.shape[-1])[:, inverse])


def attend(ops: PartialOps, layout: AttentionLayout, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The layer's attention for ``q, k, v [B, S, H, K]`` -> ``[B, S, H, K]``, assembled from pieces."""
    t = layout.text_length
    image_piece = image_attention(ops, layout, q[:, t:], k[:, t:], v[:, t:])
    if t == 0:
        return ops.merge([image_piece])
    text_out = ops.merge([ops.partial(q[:, :t], k[:, :t], v[:, :t], Bias("causal"))])
    cross_piece = ops.partial(q[:, t:], k[:, :t], v[:, :t], Bias("none"))
    image_out = ops.merge([image_piece, cross_piece])
    return torch.cat([text_out.to(image_out.dtype), image_out], dim=1)


def dense_partial(q, k, v, bias: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out [B,M,H,K], lse [B,H,M])`` in float32 for an additive ``bias`` broadcastable to ``[B,H,M,N]``."""
    scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) * scale + bias.float()
    lse = scores.logsumexp(dim=-1)
    return torch.einsum("bhqk,bkhd->bqhd", (scores - lse[..., None]).exp(), v.float()), lse


def merge_by_lse(outs, lses) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``[B,M,H,K]`` of the same queries over disjoint keys, weighted by their ``lse [B,H,M]``."""
    total = torch.stack([lse.float() for lse in lses]).logsumexp(dim=0)
    merged = sum(
        out.float() * (lse.float() - total).exp().transpose(1, 2)[..., None]
        for out, lse in zip(outs, lses, strict=True)
    )
    return merged, total


class TorchOps:
    """:class:`PartialOps` in dense torch (CPU checks): a piece is ``(out, lse)``."""

    @staticmethod
    def partial(q, k, v, bias: Bias):
        mask = bias.materialize(q.shape[1], k.shape[1], q.device)
        out, lse = dense_partial(q, k, v, mask, 1.0 / math.sqrt(q.shape[-1]))
        return out.to(q.dtype), lse

    @staticmethod
    def rearrange(piece, fn):
        out, lse = piece
        return fn(out), fn(lse.transpose(1, 2)[..., None])[..., 0].transpose(1, 2)

    @staticmethod
    def merge(pieces):
        if len(pieces) == 1:
            return pieces[0][0]
        merged, _ = merge_by_lse([p[0] for p in pieces], [p[1] for p in pieces])
        return merged.to(pieces[0][0].dtype)
