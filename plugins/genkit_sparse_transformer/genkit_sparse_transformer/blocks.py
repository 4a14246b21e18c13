"""Transformer blocks made of two residual branches (attention, MLP), as the engine's per-resblock scaling and
FSDP2 sharding expect: each branch takes the residual stream and returns the update the caller adds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genkit.helpers import AttentionLayout, decode_attention, select_attention
from genkit_sparse_transformer.decode_linear import decode_step_linear


class KVCache:
    """Keys and values of one layer for stream positions ``[0, filled)``: tensors ``[B, H, S, D]``."""

    def __init__(self, batch: int, heads: int, length: int, head_dim: int, device, dtype) -> None:
        self.k = torch.empty(batch, heads, length, head_dim, device=device, dtype=dtype)
        self.v = torch.empty_like(self.k)


class AttentionBranch(nn.Module):
    """Pre-LN multi-head attention with a fused QKV projection; the pattern is the layer's ``AttentionLayout``.

    ``forward(x, start=0, cache=None)``: ``x [B, n, width]`` holds stream positions ``[start, start + n)``. The
    stream from position 0 (whole, or its first ``n`` positions: also the prefill of a cache) goes to the backend
    chosen by ``genkit_select_attention``; a later span needs ``cache`` and goes through
    ``genkit.attention.decode_attention`` with the same mask rows.
    """

    def __init__(self, width: int, heads: int, head_dim: int, layout: AttentionLayout) -> None:
        super().__init__()
        self.heads, self.head_dim, self.layout = heads, head_dim, layout
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * heads * head_dim)
        self.out = nn.Linear(heads * head_dim, width)
        self._backends: dict = {}

    def backend(self, device: torch.device, dtype: torch.dtype):
        key = (str(device), dtype)
        if key not in self._backends:
            self._backends[key] = select_attention(device, dtype, self.layout)
        return self._backends[key]

    def forward(self, x: torch.Tensor, start: int = 0, cache: KVCache | None = None) -> torch.Tensor:
        batch, n, _ = x.shape
        qkv = (
            decode_step_linear(self.qkv, self.norm(x))
            .view(batch, n, 3, self.heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)
        )
        q, k, v = qkv.unbind(0)
        if cache is not None:
            cache.k[:, :, start : start + n] = k
            cache.v[:, :, start : start + n] = v
        if start == 0:  # the stream or its first n positions (with a cache: the prefill)
            out = self.backend(x.device, q.dtype)(q, k, v)
        elif cache is not None:
            out = decode_attention(self.layout, q, cache.k, cache.v, start)
        else:
            raise ValueError("a span that does not start at 0 needs a KV cache")
        return decode_step_linear(self.out, out.transpose(1, 2).reshape(batch, n, self.heads * self.head_dim))


class MLPBranch(nn.Module):
    """Pre-LN two-layer MLP with GELU (``approximate``: ``"tanh"`` or ``"none"``, as ``F.gelu`` takes it)."""

    def __init__(self, width: int, hidden: int, approximate: str = "tanh") -> None:
        super().__init__()
        self.approximate = approximate
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(decode_step_linear(self.fc, self.norm(x)), approximate=self.approximate)
        return decode_step_linear(self.proj, hidden)


class Block(nn.Module):
    """One transformer block: ``x + attention(x)`` then ``+ mlp(x)``. The unit FSDP2 shards."""

    def __init__(
        self, width: int, heads: int, head_dim: int, hidden: int, layout: AttentionLayout, approximate: str = "tanh"
    ) -> None:
        super().__init__()
        self.attention = AttentionBranch(width, heads, head_dim, layout)
        self.mlp = MLPBranch(width, hidden, approximate)

    def forward(self, x: torch.Tensor, start: int = 0, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attention(x, start, cache)
        return x + self.mlp(x)
