"""Parameters of ``autoencoder: {kind: vqvae}``. Network sizes mean the same as dvae's, for a clean ablation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

import genkit
from genkit.helpers import ConvAutoencoderParams


class VQVAEParams(ConvAutoencoderParams):
    """VQ-VAE: nearest-codebook quantisation with the straight-through gradient on dVAE's encoder/decoder family."""

    # The shared field with its bounds and default (the first FieldInfo), described for the VQ-VAE (the second).
    codebook_dim: Annotated[int, ConvAutoencoderParams.model_fields["codebook_dim"]] = Field(
        description="Width D of the codebook vectors (encoder 1x1 conv -> D, decoder 1x1 conv D -> D)."
    )
    commitment: float = Field(0.25, ge=0, description="Commitment loss weight beta: ||z_e - sg(e)||^2.")
    codebook_update: Literal["loss", "ema"] = Field(
        "loss", description="loss: learn the codebook with ||sg(z_e) - e||^2; ema: exponential moving averages."
    )
    gradient: Literal["straight_through", "rotation"] = Field(
        "straight_through",
        description="How the reconstruction gradient crosses the quantiser: straight_through (copied to the "
        "encoder output unchanged) or rotation (the rotation trick, Fifty et al. 2025: through the rotation and "
        "rescaling that carry the encoder output onto its code).",
    )
    reconstruction_loss: Literal["mse", "log_mse"] = Field(
        "mse",
        description="mse: the squared error over every pixel of the batch; log_mse: the mean over images of "
        "log(each image's mse), whose gradient is that of the mean per-image PSNR (scaled to mse's size: each "
        "image's error weighted by the batch's mean error over its own): every image counts the same in decibels.",
    )
    ema_decay: float = Field(0.99, gt=0, lt=1, description="Decay of the EMA codebook (codebook_update: ema).")
    restart_dead_codes: bool = Field(True, description="Re-seed codes unused for a while from recent encoder outputs.")
    dead_code_threshold: float = Field(
        0.01, ge=0, description="A code is dead when its running usage (codes per batch, decay 0.99) falls below this."
    )
    restart_every: genkit.Steps = Field(50, ge=1, description="Training steps between dead-code restarts.")
