"""Parameters of ``autoencoder: {kind: vqgan}``: taming-transformers' ``ddconfig`` plus the quantizer and loss.

The network fields keep taming's names (``ch``, ``ch_mult``, ``num_res_blocks``, ``attn_resolutions``,
``z_channels``, ``resolution``, ``n_embed``, ``embed_dim``) so that a taming YAML maps onto them one to one.
Defaults are taming's f16 / 1024-code ImageNet VQGAN.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

import genkit


class VQGANParams(genkit.Params):
    """taming-transformers' VQModel (nearest-codebook) or GumbelVQ (gumbel-softmax) encoder/decoder."""

    quantizer: Literal["vq", "gumbel"] = Field(
        "vq", description="vq: taming's VQModel (nearest codebook vector); gumbel: GumbelVQ (logits over codes)."
    )
    ch: int = Field(128, ge=32, le=4096, multiple_of=32, description="Base width (GroupNorm(32): a multiple of 32).")
    ch_mult: tuple[int, ...] = Field(
        (1, 1, 2, 2, 4), min_length=1, description="Width multiplier per resolution; downsampling 2**(len - 1)."
    )
    num_res_blocks: int = Field(2, ge=1, le=64, description="Resnet blocks per resolution (decoder: one more).")
    attn_resolutions: tuple[int, ...] = Field(
        (16,), description="Feature-map sides (counted from `resolution`) that get a self-attention block."
    )
    resolution: int = Field(
        256, ge=1, description="taming's nominal image side: only decides where attn_resolutions fall."
    )
    z_channels: int = Field(256, ge=1, le=65536, description="Encoder output / decoder input channels.")
    n_embed: int = Field(1024, ge=2, le=1 << 20, description="Number of codes K.")
    embed_dim: int = Field(256, ge=1, le=65536, description="Width of the codebook vectors.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout inside the resnet blocks (training only).")
    beta: float = Field(0.25, ge=0, description="vq: commitment weight beta.")
    legacy_loss: bool = Field(
        True, description="vq: taming's legacy VQ loss (beta on the codebook term); false: beta on commitment."
    )
    kl_weight: float = Field(5e-4, ge=0, description="gumbel: weight of KL(q || uniform).")
    temperature_start: float = Field(1.0, gt=0, description="gumbel: softmax temperature at step 0.")
    temperature_end: float = Field(1 / 16, gt=0, description="gumbel: temperature after temperature_steps.")
    temperature_steps: genkit.Steps = Field(150_000, ge=0, description="gumbel: cosine temperature annealing length.")
    reconstruction: Literal["l1", "l2"] = Field("l1", description="Pixel loss on [-1, 1] images (taming: l1).")
    disc_weight: float = Field(
        0.0, ge=0, description="PatchGAN adversarial loss weight (taming: 0.8); 0 builds no discriminator."
    )
    disc_start: genkit.Steps = Field(10_000, ge=0, description="Step at which the adversarial loss switches on.")
    disc_layers: int = Field(3, ge=1, le=8, description="Strided conv layers of the PatchGAN discriminator.")
    disc_ch: int = Field(64, ge=1, le=4096, description="Width of the discriminator's first layer.")

    @model_validator(mode="after")
    def _layout(self) -> VQGANParams:
        if any(m < 1 for m in self.ch_mult):
            raise ValueError(f"ch_mult: multipliers must be >= 1, got {list(self.ch_mult)}")
        if self.quantizer == "gumbel" and self.embed_dim != self.z_channels:
            raise ValueError(f"gumbel: embed_dim ({self.embed_dim}) must equal z_channels ({self.z_channels})")
        widths = [self.ch * m for m in self.ch_mult]
        estimate = 2 * (2 * self.num_res_blocks + 1) * sum(9 * w * w for w in widths) + self.n_embed * self.embed_dim
        genkit.too_many_parameters(estimate, "ch x ch_mult x num_res_blocks")
        return self

    @property
    def factor(self) -> int:
        """The downsampling factor ``2 ** (len(ch_mult) - 1)``."""
        return 2 ** (len(self.ch_mult) - 1)
