"""Parameters of ``autoencoder: {kind: vqvae}``. Network sizes mean the same as dvae's, for a clean ablation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

import genkit
from genkit_dvae.params import MAX_CODES, MAX_DOWNSAMPLE, MAX_WIDTH, check_size, layout_problems


class VQVAEParams(genkit.Params):
    """VQ-VAE: nearest-codebook quantisation with the straight-through gradient on dVAE's encoder/decoder family."""

    codebook_size: int = Field(8192, ge=2, le=MAX_CODES, description="Number of codes K.")
    downsample: int = Field(
        8,
        ge=1,
        le=MAX_DOWNSAMPLE,
        description="Downsampling factor, a power of two: groups = log2(downsample) + 1 (8 -> 4 groups).",
    )
    hidden: int = Field(256, ge=4, le=MAX_WIDTH, multiple_of=4, description="Width of the first group (as dvae).")
    multipliers: tuple[int, ...] | None = Field(
        None, description="Width multiplier of each group, one per group (default 1, 2, 4, 8, ...)."
    )
    blocks_per_group: int = Field(2, ge=1, le=1024, description="Resblocks per group.")
    codebook_dim: int = Field(
        128,
        ge=1,
        le=MAX_WIDTH,
        description="Width D of the codebook vectors (encoder 1x1 conv -> D, decoder 1x1 conv D -> D).",
    )
    commitment: float = Field(0.25, ge=0, description="Commitment loss weight beta: ||z_e - sg(e)||^2.")
    codebook_update: Literal["loss", "ema"] = Field(
        "loss", description="loss: learn the codebook with ||sg(z_e) - e||^2; ema: exponential moving averages."
    )
    ema_decay: float = Field(0.99, gt=0, lt=1, description="Decay of the EMA codebook (codebook_update: ema).")
    restart_dead_codes: bool = Field(True, description="Re-seed codes unused for a while from recent encoder outputs.")
    dead_code_threshold: float = Field(
        0.01, ge=0, description="A code is dead when its running usage (codes per batch, decay 0.99) falls below this."
    )
    restart_every: genkit.Steps = Field(50, ge=1, description="Training steps between dead-code restarts.")

    @model_validator(mode="after")
    def _sane_size(self) -> VQVAEParams:
        check_size(self)
        return self

    def recipe_problems(self, context: genkit.BuildContext) -> dict[str, str]:
        return layout_problems(self, context)
