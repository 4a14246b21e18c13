"""The dVAE component (role ``autoencoder``, kind ``dvae``).

Training objective, per image element (the ELB divided by ``3 * H * W``)::

    loss = (sum_pixels NLL_logit_laplace + beta * sum_latents KL(q(z|x) || uniform)) / (3 * H * W)

with ``z`` a gumbel-softmax sample at temperature ``tau``; ``tau`` (cosine 1 -> 1/16) and ``beta`` (cosine
0 -> 6.6) follow the ``step`` given to :meth:`DVAE.training_loss`. The decoder outputs 6 channels: ``mu`` and
``ln b`` per colour; the reconstruction is ``unmap(sigmoid(mu))``.

Residual branches: every resblock is ``id_path(x) + res_path(x)`` (post-gain inside ``res_path``).
:meth:`DVAE.residual_blocks` returns the ``res_path`` of the blocks whose ``id_path`` is the identity, where
``x = x + branch(x)`` holds exactly; the first block of a group that changes width has a 1x1-conv ``id_path``
and is left out (:meth:`DVAE.all_residual_paths` lists every branch). :meth:`DVAE.shard_units` returns every
resblock of the encoder and the decoder.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genkit.helpers import gumbel_like, resolve_decoder_blocks
from genkit_dvae.common import (
    check_codes,
    check_images,
    code_counts,
    cosine_schedule,
    map_pixels,
    psnr,
    unmap_pixels,
    usage_and_perplexity,
)
from genkit_dvae.networks import Decoder, Encoder, EncoderDecoderStructure
from genkit_dvae.params import DVAEParams

KIND = "dvae"


class DVAE(EncoderDecoderStructure, nn.Module):
    """Images in ``[0, 1]`` <-> ``grid`` tokens in ``[0, vocab_size)``; see the module docstring for the loss."""

    def __init__(
        self, params: DVAEParams, image_size: int, grid: tuple[int, int], factor: int, multipliers: list[int]
    ) -> None:
        super().__init__()
        self.params = params
        self.image_size = image_size
        self.grid = grid
        self.factor = factor
        self.vocab_size = params.codebook_size
        self.eps = params.logit_laplace_eps
        shape: dict[str, Any] = dict(
            hidden=params.hidden, multipliers=multipliers, blocks_per_group=params.blocks_per_group
        )
        self.encoder = Encoder(**shape, out_channels=params.codebook_size)
        blocks = resolve_decoder_blocks(params, KIND)
        self.decoder = Decoder(
            **{**shape, "blocks_per_group": blocks},
            in_channels=params.codebook_size,
            init_width=params.codebook_dim,
            out_channels=6,
        )

    # -- schedules -------------------------------------------------------------------------------------
    def temperature(self, step: int) -> float:
        p = self.params
        return cosine_schedule(step, p.temperature_start, p.temperature_end, p.temperature_steps)

    def kl_weight(self, step: int) -> float:
        p = self.params
        return cosine_schedule(step, p.kl_weight_start, p.kl_weight_end, p.kl_weight_steps)

    # -- the role --------------------------------------------------------------------------------------
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Encoder logits ``[B, K, h, w]`` for images in ``[0, 1]``."""
        check_images(images, self.factor, KIND)
        return self.encoder(map_pixels(images.float(), self.eps))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``LongTensor[B, h, w]``: argmax of the logits, no noise."""
        return self.logits(images).argmax(dim=1)

    def decode_stats(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, ln_b)``, each ``[B, 3, H, W]``, from (relaxed) one-hot codes ``z`` ``[B, K, h, w]``."""
        stats = self.decoder(z).float()
        return stats[:, :3], stats[:, 3:]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images ``float[B, 3, h*f, w*f]`` in ``[0, 1]`` from ``LongTensor[B, h, w]`` codes."""
        check_codes(codes, self.vocab_size, KIND)
        z = F.one_hot(codes.long(), self.vocab_size).permute(0, 3, 1, 2).to(self.decoder.input_dtype())
        mu, _ = self.decode_stats(z)
        return unmap_pixels(torch.sigmoid(mu), self.eps)

    def training_loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        tau, beta = self.temperature(step), self.kl_weight(step)
        logits = self.logits(images).float()
        z = gumbel_softmax(logits, tau, hard=self.params.straight_through)
        mu, ln_b = self.decode_stats(z)
        pixels = images.float()
        if self.params.dequantize:  # continuous likelihood, discrete pixels: spread each value over its 8-bit step
            pixels = (pixels * 255 + torch.rand_like(pixels)) / 256
        target = map_pixels(pixels, self.eps)
        if self.params.reconstruction == "gaussian":
            nll = gaussian_nll(target, torch.sigmoid(mu), self.params.gaussian_sigma)
        else:
            nll = logit_laplace_nll(target, mu, ln_b)
            if self.params.scale_weighting:  # beta-NLL: the value is an NLL bound, the gradients are rebalanced
                nll = nll * torch.exp(self.params.scale_weighting * ln_b.detach())
        log_q = F.log_softmax(logits, dim=1)
        kl = (log_q.exp() * (log_q + math.log(self.vocab_size))).sum(dim=1)  # [B, h, w], nats per latent
        loss = (nll.sum() + beta * kl.sum()) / nll.numel()
        diversity = batch_code_kl(log_q)
        if self.params.diversity_weight > 0:
            loss = loss + self.params.diversity_weight * diversity
        with torch.no_grad():
            mse = float(F.mse_loss(unmap_pixels(torch.sigmoid(mu), self.eps), images.float()))
        metrics = {
            "loss": float(loss.detach()),
            "nll": float(nll.detach().mean()),
            "kl": float(kl.detach().mean()),
            "mse": mse,
            "psnr": psnr(mse),
            "temperature": tau,
            "kl_weight": beta,
            "batch_code_kl": float(diversity.detach()),
        }
        return loss, metrics

    @torch.no_grad()
    def validation_metrics(self, images: torch.Tensor) -> dict[str, float]:
        """Metrics of the token reconstruction ``decode(encode(x))`` on this batch.

        ``codebook_usage``/``perplexity`` are over this batch's codes; for a whole validation set sum
        :meth:`code_counts` over the batches and use ``usage_and_perplexity`` (``genkit_dvae.common``).
        """
        logits = self.logits(images).float()
        codes = logits.argmax(dim=1)
        recon = self.decode(codes)
        mse = float(F.mse_loss(recon, images.float()))
        log_q = F.log_softmax(logits, dim=1)
        kl = float((log_q.exp() * (log_q + math.log(self.vocab_size))).sum(dim=1).mean())
        usage, perplexity = usage_and_perplexity(code_counts(codes, self.vocab_size))
        return {"mse": mse, "psnr": psnr(mse), "kl": kl, "codebook_usage": usage, "perplexity": perplexity}


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False) -> torch.Tensor:
    """A relaxed one-hot sample over dim 1 (``torch.nn.functional.gumbel_softmax``'s distribution and gradients).

    The gumbel noise is ``genkit.helpers.gumbel.gumbel_like`` (uniform draws): on CPU about 5x faster than the
    ``exponential_`` draws torch uses, which took 15% of a 32 px training step with 512 codes.
    """
    soft = ((logits + gumbel_like(logits)) / tau).softmax(dim=1)
    if not hard:
        return soft
    index = soft.argmax(dim=1, keepdim=True)
    one_hot = torch.zeros_like(soft).scatter_(1, index, 1.0)
    return one_hot - soft.detach() + soft


def batch_code_kl(log_q: torch.Tensor) -> torch.Tensor:
    """``KL(mean q || uniform)`` in nats: how far the batch's average code distribution is from uniform.

    ``log_q`` is ``[B, K, h, w]`` (log-softmax over ``K``); the average runs over the batch and the positions.
    It is 0 when the batch uses all codes equally, ``ln K`` when every position puts all its mass on one code,
    and, unlike the per-latent KL, it does not penalise confident codes (wav2vec 2.0's diversity loss).
    """
    mean_q = log_q.exp().mean(dim=(0, 2, 3))
    return (mean_q * (mean_q.clamp_min(1e-12).log() + math.log(mean_q.numel()))).sum()


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, sigma: float) -> torch.Tensor:
    """Negative log density of ``N(mean, sigma**2)`` at ``x``, elementwise (nats)."""
    return 0.5 * ((x - mean) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)


def logit_laplace_nll(x: torch.Tensor, mu: torch.Tensor, ln_b: torch.Tensor) -> torch.Tensor:
    """Negative log density of the logit-Laplace distribution at ``x`` in ``(0, 1)``, elementwise (nats).

    ``p(x) = exp(-|logit(x) - mu| / b) / (2 b x (1 - x))``.
    """
    logit_x = torch.log(x) - torch.log1p(-x)
    return (logit_x - mu).abs() * torch.exp(-ln_b) + ln_b + math.log(2.0) + torch.log(x) + torch.log1p(-x)
