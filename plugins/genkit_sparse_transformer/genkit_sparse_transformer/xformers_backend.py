"""The CUDA backend: xformers memory-efficient attention, following :mod:`xformers_plan`.

Imported only by ``genkit_select_attention`` for a CUDA device (importing it imports xformers). Each piece of the
plan is ``xformers.ops.fmha.merge_training.memory_efficient_attention_partial_autograd`` and the pieces are merged by
log-sum-exp with ``merge_attentions_autograd``: unlike ``memory_efficient_attention_partial`` and
``merge_attentions``, these carry gradients, so the backend trains.

:func:`unusable_reason` runs the plan once on a tiny layout of every layer type, forward and backward, for a
device and dtype. An xformers build without kernels for them (e.g. one compiled for another torch) answers with
a reason, and the plugin then leaves the layer to genkit's SDPA instead of failing in the first step.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from xformers.ops import fmha
from xformers.ops.fmha import merge_training

from genkit.helpers import LAYER_TYPES, AttentionLayout
from genkit_sparse_transformer.xformers_plan import Bias, attend


def to_xformers_bias(bias: Bias):
    """The xformers attention bias for one piece of the plan."""
    if bias.kind == "none":
        return None
    if bias.kind == "causal":
        return fmha.attn_bias.LowerTriangularMask()
    if bias.kind == "local":
        return fmha.attn_bias.LocalAttentionFromBottomRightMask(window_left=bias.window_left, window_right=0)
    if bias.kind == "block_causal":
        return fmha.attn_bias.BlockDiagonalCausalMask.from_seqlens(list(bias.seqlens))
    if bias.kind == "tensor":
        return bias.tensor
    raise ValueError(f"unknown bias kind {bias.kind!r}")


class XFormersOps:
    """:class:`~genkit_sparse_transformer.xformers_plan.PartialOps` on xformers' autograd partials."""

    @staticmethod
    def partial(q, k, v, bias: Bias):
        return merge_training.memory_efficient_attention_partial_autograd(q, k, v, attn_bias=to_xformers_bias(bias))

    @staticmethod
    def rearrange(piece, fn):
        return piece.apply(fn)

    @staticmethod
    def merge(pieces):
        return merge_training.merge_attentions_autograd(*pieces)


class XFormersAttention:
    """``__call__(q, k, v)`` on ``[B, H, S, D]`` CUDA tensors (``S <= layout.length``), the layout's attention
    via xformers."""

    name = "xformers"

    def __init__(self, layout: AttentionLayout) -> None:
        self.layout = layout

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        size, missing = q.shape[-2], self.layout.length - q.shape[-2]
        if missing:  # a prefix of the stream: the plan needs the whole grid; causal, so the padding is never seen
            q, k, v = (F.pad(x, (0, 0, 0, missing)) for x in (q, k, v))
        out = attend(XFormersOps, self.layout, *(x.transpose(1, 2) for x in (q, k, v)))
        return out.to(q.dtype).transpose(1, 2)[..., :size, :]


@functools.cache
def unusable_reason(device: torch.device, dtype: torch.dtype) -> str | None:
    """None when the backend computes every layer type, with gradients, on ``device``/``dtype``; else why not."""
    gen = torch.Generator().manual_seed(0)
    for layer_type in LAYER_TYPES:
        layout = AttentionLayout(text_length=3, grid=(2, 3), layer_type=layer_type, conv_kernel=3)
        try:
            q, k, v = (torch.randn(2, 2, layout.length, 16, generator=gen).to(device, dtype) for _ in range(3))
            q, k, v = (x.requires_grad_() for x in (q, k, v))
            XFormersAttention(layout)(q, k, v).float().sum().backward()
        except Exception as error:  # noqa: BLE001 - any failure means: do not train with this backend
            first_line = str(error).strip().splitlines()[:1]
            return f"{layer_type}: {type(error).__name__}: {' '.join(first_line)}"
        if any(x.grad is None or not torch.isfinite(x.grad).all() for x in (q, k, v)):
            return f"{layer_type}: no finite gradient"
    return None
