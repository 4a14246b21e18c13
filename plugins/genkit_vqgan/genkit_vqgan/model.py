"""The VQGAN component (role ``autoencoder``, kind ``vqgan``): taming-transformers' VQModel / GumbelVQ.

Images in ``[0, 1]`` are mapped to taming's ``[-1, 1]``; ``encoder -> quant_conv -> quantize`` gives the codes,
``quantize lookup -> post_quant_conv -> decoder`` the pixels, mapped back to ``[0, 1]`` (clamped). Parameter
names are taming's (``encoder.*``, ``decoder.*``, ``quant_conv.*``, ``post_quant_conv.*``, ``quantize.*``), so
a taming state dict loads key for key; the optional discriminator lives under ``discriminator.*`` (taming keeps
it under ``loss.discriminator.*``, which the importer drops).

Training loss (taming's ``VQLPIPSWithDiscriminator`` without the perceptual term)::

    loss = rec + quantizer loss + disc_factor * (adaptive_weight * disc_weight * g_loss + d_loss)

``rec`` is the L1 (or L2) on ``[-1, 1]`` pixels; ``g_loss = -mean(D(x_hat))`` through a frozen copy of the
discriminator's weights; ``d_loss`` is the hinge loss of ``D`` on real and (detached) reconstructed images;
``disc_factor`` is 0 before ``disc_start`` and 1 after. One optimizer steps both networks: ``d_loss`` only reaches
the discriminator and ``g_loss`` only the autoencoder. With ``disc_weight: 0`` there is no discriminator.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from genkit_dvae.common import check_codes, check_images, code_counts, cosine_schedule, psnr, usage_and_perplexity
from genkit_vqgan.discriminator import NLayerDiscriminator, adaptive_weight, hinge_d_loss
from genkit_vqgan.networks import AttnBlock, Decoder, Encoder, ResnetBlock
from genkit_vqgan.params import VQGANParams
from genkit_vqgan.quantize import GumbelQuantize, VectorQuantizer

KIND = "vqgan"


class VQGAN(nn.Module):
    """Images in ``[0, 1]`` <-> ``grid`` tokens in ``[0, vocab_size)``; see the module docstring for the loss."""

    def __init__(self, params: VQGANParams, image_size: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.params = params
        self.image_size, self.grid, self.factor = image_size, grid, params.factor
        self.vocab_size = params.n_embed
        shape: dict[str, Any] = dict(
            ch=params.ch,
            ch_mult=params.ch_mult,
            num_res_blocks=params.num_res_blocks,
            attn_resolutions=params.attn_resolutions,
            resolution=params.resolution,
            z_channels=params.z_channels,
            dropout=params.dropout,
        )
        self.encoder = Encoder(**shape)
        self.decoder = Decoder(**shape)
        self.quant_conv = nn.Conv2d(params.z_channels, params.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(params.embed_dim, params.z_channels, 1)
        self.quantize: VectorQuantizer | GumbelQuantize
        if params.quantizer == "gumbel":
            self.quantize = GumbelQuantize(params.z_channels, params.n_embed, params.embed_dim, params.kl_weight)
        else:
            self.quantize = VectorQuantizer(params.n_embed, params.embed_dim, params.beta, params.legacy_loss)
        self.discriminator = (
            NLayerDiscriminator(3, params.disc_ch, params.disc_layers) if params.disc_weight > 0 else None
        )

    # -- the networks ----------------------------------------------------------------------------------
    def pre_quant(self, images: torch.Tensor) -> torch.Tensor:
        """``quant_conv(encoder(2x - 1))`` ``[B, embed_dim, h, w]`` for images in ``[0, 1]``."""
        check_images(images, self.factor, KIND)
        return self.quant_conv(self.encoder(2 * images.float() - 1))

    def decode_latents(self, z_q: torch.Tensor) -> torch.Tensor:
        """taming's ``decode``: pixels in ``[-1, 1]`` (unclamped) for quantized latents ``[B, embed_dim, h, w]``."""
        return self.decoder(self.post_quant_conv(z_q)).float()

    def temperature(self, step: int) -> float:
        p = self.params
        return cosine_schedule(step, p.temperature_start, p.temperature_end, p.temperature_steps)

    def shard_units(self) -> list[nn.Module]:
        """The resnet and attention blocks, sharded one by one under FSDP2."""
        return [m for m in (*self.encoder.modules(), *self.decoder.modules()) if isinstance(m, ResnetBlock | AttnBlock)]

    def residual_blocks(self) -> list[nn.Module]:
        """The resnet and attention blocks, for ``loss_scaling: per_resblock``. taming's blocks return ``x + h``
        (the branch is no submodule of its own: the key layout is taming's), so a block's scale covers its
        shortcut too; its input gradient is divided back by the same scale, so the stream's gradient is unchanged."""
        return self.shard_units()

    # -- the role --------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.quantize.codes(self.pre_quant(images))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        check_codes(codes, self.vocab_size, KIND)
        pixels = self.decode_latents(self.quantize.lookup(codes.long()))
        return ((pixels + 1) / 2).clamp(0, 1)

    def training_loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        z = self.pre_quant(images)
        z_q, q_loss, codes = self.quantize.quantize(z, self.temperature(step))
        x = 2 * images.float() - 1
        x_hat = self.decode_latents(z_q)
        error = x_hat - x
        rec = error.abs().mean() if self.params.reconstruction == "l1" else error.pow(2).mean()
        loss = rec + q_loss
        metrics: dict[str, float] = {"rec": float(rec.detach()), "quantizer_loss": float(q_loss.detach())}
        if self.discriminator is not None:
            loss = loss + self._adversarial(x, x_hat, rec, step, metrics)
        mse = float(((x_hat.detach() + 1) / 2).clamp(0, 1).sub(images.float()).pow(2).mean())
        usage, perplexity = usage_and_perplexity(code_counts(codes, self.vocab_size))
        metrics.update(
            loss=float(loss.detach()), mse=mse, psnr=psnr(mse), batch_codebook_usage=usage, batch_perplexity=perplexity
        )
        if self.params.quantizer == "gumbel":
            metrics["temperature"] = self.temperature(step)
        return loss, metrics

    def _adversarial(
        self, x: torch.Tensor, x_hat: torch.Tensor, rec: torch.Tensor, step: int, metrics: dict[str, float]
    ) -> torch.Tensor:
        """``disc_factor * (weight * g_loss + d_loss)``; the discriminator's parameters get a (zero before
        ``disc_start``) gradient from ``d_loss`` only."""
        assert self.discriminator is not None
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        g_loss = -functional_call(self.discriminator, frozen, (x_hat,)).mean()
        d_loss = hinge_d_loss(self.discriminator(x.detach()), self.discriminator(x_hat.detach()))
        on = step >= self.params.disc_start
        weight = torch.zeros((), device=x.device)
        if on and torch.is_grad_enabled() and x_hat.requires_grad:
            weight = adaptive_weight(rec, g_loss, self.decoder.last_layer) * self.params.disc_weight
        factor = 1.0 if on else 0.0
        metrics.update(g_loss=float(g_loss.detach()), d_loss=float(d_loss.detach()), d_weight=float(weight))
        return factor * (weight * g_loss + d_loss)

    @torch.no_grad()
    def validation_metrics(self, images: torch.Tensor) -> dict[str, float]:
        """Metrics of ``decode(encode(x))`` on this batch; codebook usage/perplexity are over this batch's codes
        (sum :meth:`code_counts` over batches for a whole validation set)."""
        codes = self.encode(images)
        mse = float(F.mse_loss(self.decode(codes), images.float()))
        usage, perplexity = usage_and_perplexity(code_counts(codes, self.vocab_size))
        return {"mse": mse, "psnr": psnr(mse), "codebook_usage": usage, "perplexity": perplexity}

    def code_counts(self, images: torch.Tensor) -> torch.Tensor:
        """How often each code occurs in ``encode(images)``: ``LongTensor[vocab_size]``."""
        return code_counts(self.encode(images), self.vocab_size)
