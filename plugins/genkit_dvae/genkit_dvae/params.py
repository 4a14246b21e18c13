"""Parameters of ``autoencoder: {kind: dvae}``. Defaults are the paper's 256 px model (32x32 tokens, 8192 codes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

import genkit


class DVAEParams(genkit.Params):
    """DALL-E's discrete VAE: OpenAI's released encoder/decoder layout, gumbel-softmax, logit-Laplace likelihood."""

    codebook_size: int = Field(8192, ge=2, description="Number of codes K (the paper: 8192).")
    downsample: int = Field(
        8, ge=1, description="Downsampling factor, a power of two: groups = log2(downsample) + 1 (8 -> 4 groups)."
    )
    hidden: int = Field(256, ge=4, multiple_of=4, description="Width of the first group (OpenAI: 256).")
    multipliers: tuple[int, ...] | None = Field(
        None, description="Width multiplier of each group, one per group (default 1, 2, 4, 8, ...)."
    )
    blocks_per_group: int = Field(2, ge=1, description="Resblocks per group (OpenAI: 2).")
    codebook_dim: int = Field(
        128, ge=1, description="Width of the codebook vectors: the decoder's 1x1 input conv maps K -> this (OpenAI: 128)."
    )
    straight_through: bool = Field(
        False, description="Hard one-hot samples in the forward pass with soft gradients (default: soft relaxation)."
    )
    temperature_start: float = Field(1.0, gt=0, description="Gumbel-softmax temperature at step 0.")
    temperature_end: float = Field(1 / 16, gt=0, description="Temperature after temperature_steps (the paper: 1/16).")
    temperature_steps: genkit.Steps = Field(150_000, ge=0, description="Length of the cosine temperature annealing, in steps.")
    kl_weight_start: float = Field(0.0, ge=0, description="KL weight beta at step 0.")
    kl_weight_end: float = Field(6.6, ge=0, description="KL weight beta after kl_weight_steps (the paper: 6.6).")
    kl_weight_steps: genkit.Steps = Field(5_000, ge=0, description="Length of the cosine KL-weight ramp, in steps.")
    diversity_weight: float = Field(
        0.0, ge=0, description=(
            "Weight of KL(batch-mean q || uniform) added to the per-element loss (wav2vec 2.0's diversity loss): "
            "spreads code usage without penalising confident codes. 0 (default) is the paper's objective."
        ),
    )
    reconstruction: Literal["logit_laplace", "gaussian"] = Field(
        "logit_laplace", description=(
            "Pixel likelihood: 'logit_laplace' (the paper; decoder mu and ln b per channel) or 'gaussian' "
            "(fixed scale gaussian_sigma on sigmoid(mu) of the mapped pixels; ln b is ignored)."
        ),
    )
    gaussian_sigma: float = Field(
        0.13, gt=0, description="Standard deviation of the 'gaussian' likelihood, in mapped pixel units."
    )
    logit_laplace_eps: float = Field(
        0.1, gt=0, lt=0.5, description="Pixels are mapped to [eps, 1 - eps] for the logit-Laplace likelihood."
    )
