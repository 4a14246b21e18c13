"""Parameters of ``autoencoder: {kind: dvae}``. Defaults are the paper's 256 px model (32x32 tokens, 8192 codes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

import genkit
from genkit.helpers import ConvAutoencoderParams


class DVAEParams(ConvAutoencoderParams):
    """DALL-E's discrete VAE: OpenAI's released encoder/decoder layout, gumbel-softmax, logit-Laplace likelihood."""

    # The shared field with its bounds and default (the first FieldInfo), described for the dVAE (the second).
    codebook_dim: Annotated[int, ConvAutoencoderParams.model_fields["codebook_dim"]] = Field(
        description="Width of the codebook vectors: the decoder's 1x1 input conv maps K -> this (OpenAI: 128)."
    )
    straight_through: bool = Field(
        False, description="Hard one-hot samples in the forward pass with soft gradients (default: soft relaxation)."
    )
    temperature_start: float = Field(1.0, gt=0, description="Gumbel-softmax temperature at step 0.")
    temperature_end: float = Field(1 / 16, gt=0, description="Temperature after temperature_steps (the paper: 1/16).")
    temperature_steps: genkit.Steps = Field(
        150_000, ge=0, description="Length of the cosine temperature annealing, in steps."
    )
    kl_weight_start: float = Field(0.0, ge=0, description="KL weight beta at step 0.")
    kl_weight_end: float = Field(6.6, ge=0, description="KL weight beta after kl_weight_steps (the paper: 6.6).")
    kl_weight_steps: genkit.Steps = Field(5_000, ge=0, description="Length of the cosine KL-weight ramp, in steps.")
    diversity_weight: float = Field(
        0.0,
        ge=0,
        description=(
            "Weight of KL(batch-mean q || uniform) added to the per-element loss (wav2vec 2.0's diversity loss): "
            "spreads code usage without penalising confident codes. 0 (default) is the paper's objective."
        ),
    )
    reconstruction: Literal["logit_laplace", "gaussian"] = Field(
        "logit_laplace",
        description=(
            "Pixel likelihood: 'logit_laplace' (the paper; decoder mu and ln b per channel) or 'gaussian' "
            "(fixed scale gaussian_sigma on sigmoid(mu) of the mapped pixels; ln b is ignored)."
        ),
    )
    gaussian_sigma: float = Field(
        0.13, gt=0, description="Standard deviation of the 'gaussian' likelihood, in mapped pixel units."
    )
    dequantize: bool = Field(
        False,
        description=(
            "Add uniform noise of one 8-bit step to the target pixels, (255 x + u) / 256 with u ~ U(0, 1), before the "
            "likelihood (Theis et al. 2016): a continuous density of exactly repeated values (a flat background) "
            "is unbounded, and the learned logit-Laplace scale then shrinks there without end. The encoder sees "
            "the clean image."
        ),
    )
    scale_weighting: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "logit_laplace only: weight each pixel's NLL by stop_gradient(b) ** this (Seitzer et al. 2022's beta-NLL "
            "for a learned scale). 0 (default) is the plain NLL; 1 gives every pixel's mean an L1 gradient of the "
            "same size, where the plain NLL scales it by 1/b and so neglects the pixels it fits worst."
        ),
    )
    logit_laplace_eps: float = Field(
        0.1, gt=0, lt=0.5, description="Pixels are mapped to [eps, 1 - eps] for the logit-Laplace likelihood."
    )
