"""Parameters of the sparse-attention prior (the ``prior:`` section of a recipe with ``kind: sparse_transformer``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

import genkit
from genkit.helpers import CheckpointActivations, checkpoint_description, paper_schedule

MAX_WIDTH = 1 << 17
MAX_DEPTH = 1 << 14

LayerType = Literal["full", "row", "column", "conv"]


class SparseTransformerParams(genkit.Params):
    """A decoder-only pre-LN transformer over [text ; image tokens] with DALL-E's sparse attention masks."""

    width: int = Field(512, ge=8, le=MAX_WIDTH, description="Model width d (residual stream size).")
    depth: int = Field(8, ge=1, le=MAX_DEPTH, description="Number of transformer blocks (attention + MLP).")
    heads: int = Field(8, ge=1, le=MAX_WIDTH, description="Attention heads per layer.")
    head_dim: int | None = Field(None, ge=1, le=MAX_WIDTH, description="Size of each head; default width // heads.")
    mlp_ratio: float = Field(4.0, gt=0, le=256, description="MLP hidden size as a multiple of width.")
    activation: Literal["gelu_tanh", "gelu"] = Field(
        "gelu_tanh",
        description="MLP activation: 'gelu_tanh' (GPT-2's tanh approximation) or 'gelu' (exact, erf). On the CPU "
        "torch 2.13's exact kernel is about 5x faster (training about 4% faster).",
    )
    attention: Literal["paper", "full"] | list[LayerType] = Field(
        "paper",
        description="Layer types: 'paper' (layer i is column if (i-2) % 4 == 0 else row, the last is conv), "
        "'full' (every layer causal over everything), or an explicit list of full/row/column/conv, one per layer.",
    )
    conv_kernel: int = Field(
        11, ge=1, le=1023, description="Kernel size k of conv layers (causal k x k neighbourhood; odd)."
    )
    text_weight: float = Field(0.125, ge=0, description="Weight of the text cross-entropy in the loss.")
    image_weight: float = Field(0.875, ge=0, description="Weight of the image cross-entropy in the loss.")
    caption_dropout: float = Field(
        0.0, ge=0, lt=1, description="Training only: probability of replacing a caption by all pads (enables guidance)."
    )
    init_std: float = Field(0.02, gt=0, description="Std of the normal weight initialisation.")
    checkpoint_activations: CheckpointActivations = Field(False, description=checkpoint_description())

    @model_validator(mode="after")
    def _check(self) -> SparseTransformerParams:
        if self.head_dim is None and self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads} (or set head_dim)")
        if isinstance(self.attention, list) and len(self.attention) != self.depth:
            raise ValueError(f"attention lists {len(self.attention)} layer types but depth is {self.depth}")
        if self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_kernel must be odd, got {self.conv_kernel}")
        attention = 4 * self.width * self.heads * self.resolved_head_dim  # qkv + out projections
        mlp = 2 * self.width * round(self.mlp_ratio * self.width)
        genkit.too_many_parameters(self.depth * (attention + mlp), "width x depth (x heads x head_dim, x mlp_ratio)")
        return self

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim if self.head_dim is not None else self.width // self.heads

    def layer_types(self) -> list[str]:
        if self.attention == "paper":
            return paper_schedule(self.depth)
        if self.attention == "full":
            return ["full"] * self.depth
        return list(self.attention)
