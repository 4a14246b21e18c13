"""Bidirectional transformer blocks made of two residual branches (attention, MLP), as genkit's per-resblock fp16
scaling and FSDP2 sharding expect: each branch takes the residual stream and returns the update the caller adds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AttentionBranch(nn.Module):
    """Pre-LN multi-head self-attention over the whole sequence (no mask: every token sees every token), with a
    fused QKV projection and torch's ``scaled_dot_product_attention``."""

    def __init__(self, width: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, width // heads, dropout
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n, width = x.shape
        q, k, v = self.qkv(self.norm(x)).view(batch, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.drop(self.out(attended.transpose(1, 2).reshape(batch, n, width)))


class MLPBranch(nn.Module):
    """Pre-LN two-layer MLP with (exact) GELU."""

    def __init__(self, width: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(self.norm(x)))))


class Block(nn.Module):
    """One transformer block: ``x + attention(x)`` then ``+ mlp(x)``. The unit FSDP2 shards."""

    def __init__(self, width: int, heads: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attention = AttentionBranch(width, heads, dropout)
        self.mlp = MLPBranch(width, hidden, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.mlp(x)
