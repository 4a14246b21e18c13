"""taming-transformers' quantizers (``taming/modules/vqvae/quantize.py``), re-typed with the same state-dict keys.

- :class:`VectorQuantizer` (taming's ``VectorQuantizer2``, key ``embedding.weight``): the nearest codebook vector
  by ``|z|^2 + |e|^2 - 2 z.e`` (taming's formula, so ties break the same way), straight-through gradient. Loss
  (``legacy``, taming's default): ``mean((sg(z_q) - z)^2) + beta * mean((z_q - sg(z))^2)``; not legacy: beta on
  the first (commitment) term instead.
- :class:`GumbelQuantize` (keys ``proj.*``, ``embed.weight``): logits ``proj(z)`` over the codes; training
  samples a gumbel-softmax (hard, straight-through) at a temperature; the code of an image is ``argmax`` of the
  logits (taming samples gumbel noise even in eval; genkit's ``encode`` must be deterministic). Loss:
  ``kl_weight * mean(sum(q * log(q * K)))``, the KL of ``q = softmax(logits)`` to the uniform distribution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, n_embed: int, embed_dim: int, beta: float, legacy: bool) -> None:
        super().__init__()
        self.beta, self.legacy = beta, legacy
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code per position, ``LongTensor[B, h, w]``, for ``z`` ``[B, D, h, w]``."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        book = self.embedding.weight
        dist = flat.pow(2).sum(1, keepdim=True) + book.pow(2).sum(1) - 2 * flat @ book.t()
        return dist.argmin(dim=1).view(z.shape[0], *z.shape[2:])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors ``[B, D, h, w]`` for ``codes`` ``[B, h, w]``."""
        return self.embedding(codes).permute(0, 3, 1, 2)

    def quantize(self, z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_q with the straight-through gradient, vq loss, codes)``; ``temperature`` is unused."""
        codes = self.codes(z.detach())
        z_q = self.lookup(codes)
        first, second = F.mse_loss(z_q.detach(), z), F.mse_loss(z_q, z.detach())
        loss = first + self.beta * second if self.legacy else self.beta * first + second
        return z + (z_q - z).detach(), loss, codes


class GumbelQuantize(nn.Module):
    def __init__(self, z_channels: int, n_embed: int, embed_dim: int, kl_weight: float) -> None:
        super().__init__()
        self.n_embed, self.kl_weight = n_embed, kl_weight
        self.proj = nn.Conv2d(z_channels, n_embed, 1)
        self.embed = nn.Embedding(n_embed, embed_dim)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """``argmax`` of the logits, ``LongTensor[B, h, w]``."""
        return self.proj(z).argmax(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return self.embed(codes).permute(0, 3, 1, 2)

    def quantize(self, z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_q from a hard gumbel-softmax sample, KL loss, sampled codes)``."""
        logits = self.proj(z).float()
        one_hot = F.gumbel_softmax(logits, tau=temperature, dim=1, hard=True)
        z_q = torch.einsum("bnhw,nd->bdhw", one_hot, self.embed.weight.float())
        q = F.softmax(logits, dim=1)
        loss = self.kl_weight * torch.sum(q * torch.log(q * self.n_embed + 1e-10), dim=1).mean()
        return z_q, loss, one_hot.argmax(dim=1)
