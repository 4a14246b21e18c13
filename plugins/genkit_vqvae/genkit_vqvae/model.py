"""The VQ-VAE component (role ``autoencoder``, kind ``vqvae``).

Encoder (dVAE's family, last 1x1 conv -> ``codebook_dim``) -> nearest codebook vector (squared distance) with the
straight-through gradient (or, ``gradient: rotation``, the rotation trick: :func:`rotated`) -> decoder (dVAE's
family, 3 output channels, sigmoid). Training loss, per element::

    loss = mse(x_hat, x) + ||sg(z_e) - e||^2 (codebook_update: loss) + commitment * ||z_e - sg(e)||^2

(``reconstruction_loss: log_mse`` replaces the first term with :func:`log_mse`.)

With ``codebook_update: ema`` the codebook follows EMAs of assigned counts and sums (decay ``ema_decay``) instead
of the codebook term. Each training call also updates ``code_usage`` (running codes per batch); every
``restart_every`` steps codes whose usage is below ``dead_code_threshold`` are re-seeded from random encoder
outputs of the current batch.

These updates run inside :meth:`VQVAE.training_loss` (a forward), and they are safe under torchrun with FSDP2 or
DDP:
- Code counts and EMA sums are summed over the ranks, so every rank makes the update of one process on the
  global batch. Restart vectors are rank 0's, broadcast.
- Nothing writes a sharded parameter. FSDP2 gathers parameters for a forward and frees the gathered copy after,
  so a write there would be lost. The EMA codebook is therefore a buffer. The learned codebook (``loss``) is a
  parameter plus a ``codebook_shift`` buffer; a restart sets the shift so that parameter + shift is the new
  vector, and gradients keep moving the parameter. :meth:`VQVAE.codebook_vectors` is the codebook in use.

``residual_blocks``/``shard_units`` follow the dvae convention (see ``genkit_dvae.model``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genkit.helpers import from_rank_zero, resolve_decoder_blocks, sum_over_ranks
from genkit_dvae.common import check_codes, check_images, code_counts, psnr, usage_and_perplexity
from genkit_dvae.networks import Decoder, Encoder, EncoderDecoderStructure
from genkit_vqvae.params import VQVAEParams

KIND = "vqvae"
USAGE_DECAY = 0.99


def rotated(z_e: torch.Tensor, e: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The rotation trick (Fifty et al., *Restructuring Vector Quantization with the Rotation Trick*, 2025): ``e``
    in the forward pass, but the gradient reaches ``z_e`` through the rotation and rescaling that carry ``z_e`` onto
    ``e`` (treated as constants), instead of unchanged (straight-through). Per position (over dim 1), with
    ``u = z_e/|z_e|``, ``q = e/|e|`` and ``r = (u + q)/|u + q|``::

        out = |e|/|z_e| * (z_e - 2 (z_e . r) r + 2 (z_e . u) q)

    so a gradient's angle to ``z_e`` is kept relative to ``e``: codes are pushed apart by how far the encoder
    output is from its code, which the paper finds gives better reconstructions and codebook use."""
    norm_z = z_e.norm(dim=1, keepdim=True).clamp_min(eps)
    norm_e = e.norm(dim=1, keepdim=True).clamp_min(eps)
    u, q = (z_e / norm_z).detach(), (e / norm_e).detach()
    r = u + q
    r = (r / r.norm(dim=1, keepdim=True).clamp_min(eps)).detach()
    rotation = z_e - 2 * (z_e * r).sum(1, keepdim=True) * r + 2 * (z_e * u).sum(1, keepdim=True) * q
    return (norm_e / norm_z).detach() * rotation


def log_mse(recon: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """The mean over images of ``log(mse_i)``, scaled by the batch's mean ``mse`` (a constant), as
    ``mean_i(sg(mean mse / mse_i) * mse_i)``: its value is the batch's mse, its gradient that of the mean per-image
    PSNR times ``-mean mse * ln(10) / 10``. An image reconstructed twice as well (half the mse) gets twice the
    weight."""
    per_image = (recon - images.to(recon.dtype)).pow(2).flatten(1).mean(1)
    weights = (per_image.mean() / per_image.clamp_min(1e-10)).detach()
    return (weights * per_image).mean()


class VQVAE(EncoderDecoderStructure, nn.Module):
    """Images in ``[0, 1]`` <-> ``grid`` tokens in ``[0, vocab_size)``; see the module docstring for the loss."""

    # Set in __init__ (annotations only): the codebook is a buffer (ema) or an nn.Parameter (loss), the rest buffers.
    codebook: torch.Tensor
    codebook_shift: torch.Tensor
    code_usage: torch.Tensor
    ema_count: torch.Tensor
    ema_sum: torch.Tensor

    def __init__(
        self, params: VQVAEParams, image_size: int, grid: tuple[int, int], factor: int, multipliers: list[int]
    ) -> None:
        super().__init__()
        self.params = params
        self.image_size, self.grid, self.factor = image_size, grid, factor
        self.vocab_size = params.codebook_size
        dim = params.codebook_dim
        shape: dict[str, Any] = dict(
            hidden=params.hidden, multipliers=multipliers, blocks_per_group=params.blocks_per_group
        )
        self.encoder = Encoder(**shape, out_channels=dim)
        blocks = resolve_decoder_blocks(params, KIND)
        self.decoder = Decoder(**{**shape, "blocks_per_group": blocks}, in_channels=dim, init_width=dim, out_channels=3)
        book = torch.randn(params.codebook_size, dim) / dim**0.5
        if params.codebook_update == "ema":
            self.register_buffer("codebook", book)
        else:
            self.codebook = nn.Parameter(book)
        self.register_buffer("codebook_shift", torch.zeros_like(book))
        self.register_buffer("code_usage", torch.ones(params.codebook_size))
        self.register_buffer("ema_count", torch.ones(params.codebook_size))
        self.register_buffer("ema_sum", book.clone())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before restarts became a shift have none: a zero shift is the same codebook
        state_dict.setdefault(prefix + "codebook_shift", torch.zeros_like(self.codebook_shift))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- quantisation ----------------------------------------------------------------------------------
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Encoder outputs ``z_e`` ``[B, D, h, w]`` for images in ``[0, 1]``."""
        check_images(images, self.factor, KIND)
        return self.encoder(images.float() - 0.5)

    def codebook_vectors(self) -> torch.Tensor:
        """The codebook in use, ``[K, D]``: ``codebook + codebook_shift`` (the shift holds restarts)."""
        return self.codebook + self.codebook_shift

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook vector for each position: ``LongTensor[B, h, w]``. The distances are
        fp32 even under bf16/fp16 autocast: a bf16 ``flat @ book.t()`` (8 bits of mantissa) picks wrong codes."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1]).float()
        book = self.codebook_vectors().detach().float()
        with torch.autocast(z_e.device.type, enabled=False):
            dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(1)[None]
        return dist.argmin(dim=1).view(z_e.shape[0], *z_e.shape[2:])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors ``[B, D, h, w]`` for ``codes`` ``[B, h, w]``."""
        return F.embedding(codes, self.codebook_vectors()).permute(0, 3, 1, 2)

    def reconstruct(self, z_q: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z_q).float())

    # -- the role --------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.nearest(self.embed(images))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        check_codes(codes, self.vocab_size, KIND)
        return self.reconstruct(self.lookup(codes.long()))

    def training_loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        z_e = self.embed(images).float()
        codes = self.nearest(z_e)
        e = self.lookup(codes)
        commit = F.mse_loss(z_e, e.detach())
        z_q = rotated(z_e, e) if self.params.gradient == "rotation" else z_e + (e - z_e).detach()
        recon = self.reconstruct(z_q)
        if self.params.reconstruction_loss == "log_mse":
            reconstruction = log_mse(recon, images)
            mse = reconstruction.detach()  # log_mse's value is the batch's mse
        else:
            reconstruction = mse = F.mse_loss(recon, images.float())
        loss = reconstruction + self.params.commitment * commit
        codebook_loss = F.mse_loss(e, z_e.detach())
        if self.params.codebook_update == "loss":
            loss = loss + codebook_loss
        if self.training:
            self._update_codebook(z_e.detach(), codes, step)
        usage, perplexity = usage_and_perplexity(code_counts(codes, self.vocab_size))
        metrics = {
            "loss": float(loss.detach()),
            "mse": float(mse.detach()),
            "psnr": psnr(float(mse.detach())),
            "commitment": float(commit.detach()),
            "codebook_loss": float(codebook_loss.detach()),
            "batch_codebook_usage": usage,
            "batch_perplexity": perplexity,
            "live_codes": float((self.code_usage >= self.params.dead_code_threshold).float().mean()),
        }
        return loss, metrics

    @torch.no_grad()
    def _update_codebook(self, z_e: torch.Tensor, codes: torch.Tensor, step: int) -> None:
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        index = codes.reshape(-1)
        ema = self.params.codebook_update == "ema"
        # counts and per-code sums by index (a [N, K] one-hot and its matmul cost K times more: 134 MB a step at
        # 8192 codes and 4096 positions)
        counts = torch.bincount(index, minlength=self.vocab_size).to(flat.dtype)
        sums = (
            torch.zeros(self.vocab_size, flat.shape[1], dtype=flat.dtype, device=flat.device).index_add_(0, index, flat)
            if ema
            else None
        )
        sum_over_ranks(counts, sums)
        self.code_usage.mul_(USAGE_DECAY).add_(counts, alpha=1 - USAGE_DECAY)
        if sums is not None:  # ema
            decay = self.params.ema_decay
            self.ema_count.mul_(decay).add_(counts, alpha=1 - decay)
            self.ema_sum.mul_(decay).add_(sums, alpha=1 - decay)
            n = self.ema_count.sum()
            smoothed = (self.ema_count + 1e-5) / (n + self.vocab_size * 1e-5) * n  # Laplace smoothing
            self.codebook.copy_(self.ema_sum / smoothed[:, None])
        if self.params.restart_dead_codes and step > 0 and step % self.params.restart_every == 0:
            dead = (self.code_usage < self.params.dead_code_threshold).nonzero().flatten()
            if len(dead):
                picks = from_rank_zero(flat[torch.randint(0, flat.shape[0], (len(dead),), device=flat.device)])
                if ema:
                    self.codebook[dead] = picks
                    self.ema_sum[dead] = picks
                    self.ema_count[dead] = 1.0
                else:  # the parameter may be a gathered copy (FSDP2): move the vector through the shift
                    self.codebook_shift[dead] = picks - self.codebook.detach()[dead]
                self.code_usage[dead] = 1.0

    @torch.no_grad()
    def validation_metrics(self, images: torch.Tensor) -> dict[str, float]:
        """Metrics of ``decode(encode(x))`` on this batch; codebook usage/perplexity are over this batch's codes
        (sum :meth:`code_counts` over batches for a whole validation set)."""
        z_e = self.embed(images).float()
        codes = self.nearest(z_e)
        e = self.lookup(codes)
        mse = float(F.mse_loss(self.reconstruct(e), images.float()))
        usage, perplexity = usage_and_perplexity(code_counts(codes, self.vocab_size))
        return {
            "mse": mse,
            "psnr": psnr(mse),
            "commitment": float(F.mse_loss(z_e, e)),
            "codebook_usage": usage,
            "perplexity": perplexity,
        }
