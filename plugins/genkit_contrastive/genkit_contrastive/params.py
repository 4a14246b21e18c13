"""Parameters of the ``contrastive`` reranker (``reranker: {kind: contrastive, ...}`` in a recipe)."""

from __future__ import annotations

import math

from pydantic import Field, model_validator

import genkit

MAX_WIDTH = 1 << 17


class ContrastiveParams(genkit.Params):
    """A small CLIP: text transformer + residual conv net, projected to a shared space, symmetric InfoNCE.

    The defaults train on a 2-core CPU in a couple of minutes on 32 px synthetic shapes.
    """

    width: int = Field(128, ge=8, le=MAX_WIDTH, description="Text transformer width (token embedding size).")
    depth: int = Field(
        2, ge=1, le=1 << 14, description="Text transformer blocks (each: attention branch + MLP branch)."
    )
    heads: int = Field(4, ge=1, le=MAX_WIDTH, description="Attention heads of the text transformer; must divide width.")
    mlp_ratio: int = Field(4, ge=1, le=256, description="Hidden size of each text MLP branch, as a multiple of width.")
    image_widths: tuple[int, ...] = Field(
        (32, 64, 128),
        min_length=1,
        description="Channels of the image encoder's stages; each stage after the first halves the resolution "
        "with a stride-2 conv.",
    )
    stem_stride: int = Field(
        2,
        ge=1,
        le=2,
        description="Stride of the image encoder's first conv: 2 halves the resolution before any residual block "
        "(4x cheaper than 1 for a small accuracy cost on 32 px images).",
    )
    image_blocks: int = Field(1, ge=1, le=1024, description="Residual conv blocks per image-encoder stage.")
    groups: int = Field(
        8, ge=1, le=MAX_WIDTH, description="GroupNorm groups in the image encoder; must divide every image width."
    )
    embed_dim: int = Field(128, ge=2, le=MAX_WIDTH, description="Size of the shared text-image embedding space.")
    init_temperature: float = Field(
        0.07,
        gt=0,
        le=1,
        description="Initial softmax temperature of InfoNCE (learned as log(1/temperature)).",
    )
    max_logit_scale: float = Field(
        100.0,
        gt=1,
        description="Clamp of the learned inverse temperature 1/T (CLIP uses 100).",
    )
    learn_temperature: bool = Field(True, description="Learn the temperature; False keeps init_temperature fixed.")
    score_scaled: bool = Field(
        False,
        description="score() returns cosine similarity times the learned 1/T instead of plain cosine.",
    )

    @model_validator(mode="after")
    def _check_shapes(self) -> ContrastiveParams:
        if self.width % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide width ({self.width})")
        bad = [w for w in self.image_widths if w < 1 or w > MAX_WIDTH or w % self.groups]
        if bad:
            raise ValueError(
                f"groups ({self.groups}) must divide every image width (1 to {MAX_WIDTH}); it does not divide {bad}"
            )
        if 1.0 / self.init_temperature > self.max_logit_scale:
            raise ValueError(
                f"1/init_temperature ({1 / self.init_temperature:g}) exceeds max_logit_scale ({self.max_logit_scale:g})"
            )
        text = self.depth * (4 + 2 * self.mlp_ratio) * self.width**2  # attention and MLP of each text block
        image = 18 * self.image_blocks * sum(w * w for w in self.image_widths)  # two 3x3 convs per residual block
        genkit.too_many_parameters(text + image, "width x depth and image_widths x image_blocks")
        return self

    @property
    def init_logit_scale(self) -> float:
        """``log(1 / init_temperature)``: the initial value of the learned logit scale."""
        return math.log(1.0 / self.init_temperature)
