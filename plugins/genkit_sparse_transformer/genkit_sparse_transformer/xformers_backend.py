"""The CUDA backend: xformers memory-efficient attention, following :mod:`xformers_plan`.

Imported only by ``genkit_select_attention`` for a CUDA device (importing it imports xformers). Each piece of the
plan runs as ``xformers.ops.fmha.memory_efficient_attention_partial`` and the pieces are merged by log-sum-exp with
``xformers.ops.fmha.merge_attentions``. A bias that the installed xformers does not accept in a partial attention
falls back to the dense torch partial for that piece (same numbers, more memory).
"""

from __future__ import annotations

import torch
from xformers.ops import fmha

from genkit.attention import AttentionLayout
from genkit_sparse_transformer.xformers_plan import Bias, TorchOps, attend


def to_xformers_bias(bias: Bias):
    if bias.kind == "none":
        return None
    if bias.kind == "causal":
        return fmha.attn_bias.LowerTriangularMask()
    if bias.kind == "local":
        return fmha.attn_bias.LocalAttentionFromBottomRightMask(window_left=bias.window_left, window_right=0)
    if bias.kind == "block_causal":
        return fmha.attn_bias.BlockDiagonalCausalMask.from_seqlens(list(bias.seqlens))
    return bias.tensor


class XFormersOps:
    @staticmethod
    def partial(q, k, v, bias: Bias):
        try:
            return fmha.memory_efficient_attention_partial(q, k, v, attn_bias=to_xformers_bias(bias))
        except (ValueError, NotImplementedError):
            return TorchOps.partial(q, k, v, bias)

    @staticmethod
    def merge(outs, lses):
        out, _ = fmha.merge_attentions(outs, lses, write_lse=True)
        return out


class XFormersAttention:
    """``__call__(q, k, v)`` on ``[B, H, S, D]`` CUDA tensors, the layout's attention via xformers."""

    name = "xformers"

    def __init__(self, layout: AttentionLayout) -> None:
        self.layout = layout

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out = attend(XFormersOps, self.layout, *(x.transpose(1, 2) for x in (q, k, v)))
        return out.to(q.dtype).transpose(1, 2)
