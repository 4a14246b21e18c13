"""The FSQ component (role ``autoencoder``, kind ``fsq``): finite scalar quantization (Mentzer et al., 2023).

Encoder (dVAE's family, last 1x1 conv -> ``d = len(levels)`` channels) -> each channel bounded and rounded to
``L_i`` levels with the straight-through gradient -> decoder (dVAE's family, 3 output channels, sigmoid). A
code is the mixed-radix number of the ``d`` levels, so the vocabulary is ``prod(levels)`` and every code is
reachable: there is no codebook to learn, collapse or restart. Training loss: the mean squared error of the
reconstruction, nothing else.

Bounding (the paper's): ``tanh(z + shift) * (L - 1)(1 + 1e-3) / 2 - offset`` with ``offset = 0.5`` for even
``L`` (so that rounding gives exactly ``L`` values, ``-L/2 .. L/2 - 1``) and ``shift = atanh(offset / half)``;
the rounded value is divided by ``L // 2`` for the decoder. ``residual_blocks``/``shard_units`` follow the dvae
convention (see ``genkit_dvae.model``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genkit.helpers import resolve_decoder_blocks
from genkit_dvae.common import check_codes, check_images, code_counts, psnr, usage_and_perplexity
from genkit_dvae.networks import Decoder, Encoder, EncoderDecoderStructure
from genkit_fsq.params import FSQParams

KIND = "fsq"
BOUND_EPS = 1e-3


class FSQ(EncoderDecoderStructure, nn.Module):
    """Images in ``[0, 1]`` <-> ``grid`` tokens in ``[0, prod(levels))``; see the module docstring."""

    levels: torch.Tensor
    basis: torch.Tensor

    def __init__(
        self, params: FSQParams, image_size: int, grid: tuple[int, int], factor: int, multipliers: list[int]
    ) -> None:
        super().__init__()
        self.params = params
        self.image_size, self.grid, self.factor = image_size, grid, factor
        levels = params.resolved_levels()
        self.vocab_size = params.codebook_size
        shape: dict[str, Any] = dict(
            hidden=params.hidden, multipliers=multipliers, blocks_per_group=params.blocks_per_group
        )
        self.encoder = Encoder(**shape, out_channels=len(levels))
        blocks = resolve_decoder_blocks(params, KIND)
        self.decoder = Decoder(
            **{**shape, "blocks_per_group": blocks},
            in_channels=len(levels),
            init_width=params.codebook_dim,
            out_channels=3,
        )
        basis = [1]
        for level in levels[:-1]:
            basis.append(basis[-1] * level)
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.long), persistent=False)
        self.register_buffer("basis", torch.tensor(basis, dtype=torch.long), persistent=False)

    # -- quantisation ----------------------------------------------------------------------------------
    def _per_channel(self, t: torch.Tensor) -> torch.Tensor:
        return t.view(1, -1, 1, 1)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``[B, d, h, w]`` squashed so that rounding gives exactly ``L_i`` integers per channel."""
        levels = self._per_channel(self.levels).to(z.dtype)
        half = (levels - 1) * (1 + BOUND_EPS) / 2
        offset = (self._per_channel(self.levels) % 2 == 0).to(z.dtype) * 0.5
        return torch.tanh(z + torch.atanh(offset / half)) * half - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Rounded bounded ``z`` divided by ``L // 2`` (values in ``[-1, 1]``), straight-through gradient."""
        bounded = self.bound(z)
        rounded = bounded + (bounded.round() - bounded).detach()
        return rounded / self._per_channel(self.levels // 2).to(z.dtype)

    def codes_of(self, quantized: torch.Tensor) -> torch.Tensor:
        """``LongTensor[B, h, w]`` of quantized latents ``[B, d, h, w]`` (the mixed-radix number of the levels)."""
        half = self._per_channel(self.levels // 2)
        digits = (quantized.detach() * half).round().long() + half
        return (digits * self._per_channel(self.basis)).sum(dim=1)

    def latents_of(self, codes: torch.Tensor) -> torch.Tensor:
        """Quantized latents ``float[B, d, h, w]`` of ``codes`` ``[B, h, w]``: the inverse of :meth:`codes_of`."""
        digits = (codes.long()[:, None] // self._per_channel(self.basis)) % self._per_channel(self.levels)
        half = self._per_channel(self.levels // 2)
        return ((digits - half).float() / half.float()).to(self.decoder.input_dtype())

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Encoder outputs ``[B, d, h, w]`` (before bounding) for images in ``[0, 1]``."""
        check_images(images, self.factor, KIND)
        return self.encoder(images.float() - 0.5)

    def reconstruct(self, quantized: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(quantized).float())

    # -- the role --------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.codes_of(self.quantize(self.embed(images).float()))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        check_codes(codes, self.vocab_size, KIND)
        return self.reconstruct(self.latents_of(codes))

    def training_loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        quantized = self.quantize(self.embed(images).float())
        recon = self.reconstruct(quantized)
        mse = F.mse_loss(recon, images.float())
        usage, perplexity = usage_and_perplexity(code_counts(self.codes_of(quantized), self.vocab_size))
        metrics = {
            "loss": float(mse.detach()),
            "mse": float(mse.detach()),
            "psnr": psnr(float(mse.detach())),
            "batch_codebook_usage": usage,
            "batch_perplexity": perplexity,
        }
        return mse, metrics

    @torch.no_grad()
    def validation_metrics(self, images: torch.Tensor) -> dict[str, float]:
        """Metrics of ``decode(encode(x))`` on this batch; codebook usage/perplexity are over this batch's codes."""
        codes = self.encode(images)
        mse = float(F.mse_loss(self.decode(codes), images.float()))
        usage, perplexity = usage_and_perplexity(code_counts(codes, self.vocab_size))
        return {"mse": mse, "psnr": psnr(mse), "codebook_usage": usage, "perplexity": perplexity}
