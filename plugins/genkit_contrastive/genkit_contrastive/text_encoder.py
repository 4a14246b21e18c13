"""The text tower: a pre-LayerNorm transformer over token ids with a key padding mask from the lengths.

A learned summary token is prepended at position 0; every caption token and the summary token attend to the
summary token and to the real tokens of their caption only (positions ``>= length`` are masked as keys), and the
caption's embedding is the summary token's output. Padding ids therefore never change an embedding, and a caption
of length 0 still has one (the summary token's, which is learned).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


class AttentionBranch(nn.Module):
    """Residual branch ``LN -> multi-head self-attention -> out projection``; returns the update to add to x.

    ``forward(x, keep)``: ``x`` ``float[B, S, D]``, ``keep`` ``bool[B, 1, 1, S]`` (True = key may be attended).
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm(x)).split(width, dim=-1)
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class MLPBranch(nn.Module):
    """Residual branch ``LN -> Linear -> GELU -> Linear``; returns the update to add to x."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(self.norm(x))))


class TextBlock(nn.Module):
    """One transformer block: ``x = x + attn(x, keep); x = x + mlp(x)``. A shard unit for FSDP2."""

    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.attn = AttentionBranch(width, heads)
        self.mlp = MLPBranch(width, hidden)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x, keep)
        return x + self.mlp(x)


class TextEncoder(nn.Module):
    """``(ids LongTensor[B, T], lengths LongTensor[B]) -> float[B, width]`` with ``T <= max_length``."""

    def __init__(self, vocab_size: int, max_length: int, width: int, depth: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.token = nn.Embedding(vocab_size, width)
        self.summary = nn.Parameter(torch.zeros(width))
        self.position_embedding = nn.Parameter(torch.zeros(max_length + 1, width))
        self.blocks = nn.ModuleList(TextBlock(width, heads, mlp_ratio * width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        nn.init.normal_(self.token.weight, std=0.02)
        nn.init.normal_(self.summary, std=0.02)
        nn.init.normal_(self.position_embedding, std=0.01)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, length = ids.shape
        real = torch.arange(length, device=ids.device)[None, :] < lengths[:, None]  # [B, T]
        # Padding ids carry no meaning (and may be anything): replace them before the lookup.
        tokens = self.token(torch.where(real, ids, torch.zeros_like(ids)))
        x = torch.cat([self.summary.expand(batch, 1, -1), tokens], dim=1) + self.position_embedding[: length + 1]
        keep = torch.cat([torch.ones_like(real[:, :1]), real], dim=1)[:, None, None, :]  # [B, 1, 1, T+1]
        for block in self.blocks:
            x = block(x, keep)
        return self.norm(x[:, 0])

    def residual_blocks(self) -> list[nn.Module]:
        blocks = cast("Iterable[TextBlock]", self.blocks)  # an nn.ModuleList iterates as plain modules when typed
        return [branch for block in blocks for branch in (block.attn, block.mlp)]
