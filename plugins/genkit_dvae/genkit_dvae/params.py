"""Parameters of ``autoencoder: {kind: dvae}``. Defaults are the paper's 256 px model (32x32 tokens, 8192 codes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

import genkit

MAX_DOWNSAMPLE = 1 << 10
MAX_WIDTH = 1 << 16
MAX_CODES = 1 << 20


def check_size(params: Any) -> None:
    """A lower bound of the encoder + decoder parameters (the two 3x3 convs of each resblock, and the codebook),
    against :data:`genkit.MAX_PARAMETERS` (for a pydantic validator: raises ``ValueError``)."""
    groups = params.downsample.bit_length()
    multipliers = params.multipliers or [2**g for g in range(groups)]
    widths = [params.hidden * m for m in multipliers]
    estimate = 2 * params.blocks_per_group * sum(1.125 * w * w for w in widths)
    genkit.too_many_parameters(
        estimate + params.codebook_size * params.codebook_dim, "hidden x multipliers x blocks_per_group"
    )


def layout_problems(params: Any, context: genkit.BuildContext) -> dict[str, str]:
    """What the build would refuse, found when the recipe validates: ``downsample`` a power of two, one
    ``multipliers`` entry per group, and an image size (from the data section) that ``downsample`` divides (the
    token grid is ``image_size / downsample`` a side). The build keeps its own checks for params made outside a
    recipe (:func:`genkit.make_params`)."""
    factor = params.downsample
    if factor & (factor - 1):
        return {"downsample": f"must be a power of two (1, 2, 4, 8, ...), got {factor}"}
    problems = {}
    groups = factor.bit_length()
    if params.multipliers is not None and (len(params.multipliers) != groups or min(params.multipliers) < 1):
        problems["multipliers"] = (
            f"needs {groups} positive entries (one per group) for downsample {factor}, got {list(params.multipliers)}"
        )
    size = context.image_size
    if size is not None and (size < factor or size % factor):
        problems["downsample"] = (
            f"{factor} does not divide the image size {size} of the data section "
            "(the token grid is image size / downsample)"
        )
    return problems


class DVAEParams(genkit.Params):
    """DALL-E's discrete VAE: OpenAI's released encoder/decoder layout, gumbel-softmax, logit-Laplace likelihood."""

    codebook_size: int = Field(8192, ge=2, le=MAX_CODES, description="Number of codes K (the paper: 8192).")
    downsample: int = Field(
        8,
        ge=1,
        le=MAX_DOWNSAMPLE,
        description="Downsampling factor, a power of two: groups = log2(downsample) + 1 (8 -> 4 groups).",
    )
    hidden: int = Field(256, ge=4, le=MAX_WIDTH, multiple_of=4, description="Width of the first group (OpenAI: 256).")
    multipliers: tuple[int, ...] | None = Field(
        None, description="Width multiplier of each group, one per group (default 1, 2, 4, 8, ...)."
    )
    blocks_per_group: int = Field(2, ge=1, le=1024, description="Resblocks per group (OpenAI: 2).")
    codebook_dim: int = Field(
        128,
        ge=1,
        le=MAX_WIDTH,
        description="Width of the codebook vectors: the decoder's 1x1 input conv maps K -> this (OpenAI: 128).",
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
    logit_laplace_eps: float = Field(
        0.1, gt=0, lt=0.5, description="Pixels are mapped to [eps, 1 - eps] for the logit-Laplace likelihood."
    )

    @model_validator(mode="after")
    def _sane_size(self) -> DVAEParams:
        check_size(self)
        return self

    def recipe_problems(self, context: genkit.BuildContext) -> dict[str, str]:
        return layout_problems(self, context)
