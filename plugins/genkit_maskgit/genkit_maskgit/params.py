"""Parameters of the masked-token prior (the ``prior:`` section of a recipe with ``kind: maskgit``)."""

from __future__ import annotations

from pydantic import Field, model_validator

import genkit
from genkit.helpers import CheckpointActivations, checkpoint_description

MAX_WIDTH = 1 << 17
MAX_DEPTH = 1 << 14
MAX_STEPS = 1 << 16


class MaskGITParams(genkit.Params):
    """A bidirectional pre-LN transformer over [text ; image tokens] trained to fill masked image tokens."""

    width: int = Field(512, ge=8, le=MAX_WIDTH, description="Model width d (residual stream size).")
    depth: int = Field(8, ge=1, le=MAX_DEPTH, description="Number of transformer blocks (attention + MLP).")
    heads: int = Field(8, ge=1, le=MAX_WIDTH, description="Attention heads per layer (width must divide by it).")
    mlp_ratio: float = Field(4.0, gt=0, le=256, description="MLP hidden size as a multiple of width.")
    dropout: float = Field(
        0.0, ge=0, lt=1, description="Training only: dropout on attention weights and on each branch's output."
    )
    caption_dropout: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="Training only: probability of replacing a caption by all pads (enables classifier-free "
        "guidance; 0 disables it).",
    )
    steps: int = Field(
        12,
        ge=1,
        le=MAX_STEPS,
        description="Sampling: decoding iterations, one forward pass each; after iteration t, "
        "floor(N cos(pi/2 (t+1)/steps)) of the N generated tokens stay masked.",
    )
    choice_temperature: float = Field(
        4.5,
        ge=0,
        description="Sampling: scale of the Gumbel noise added to the confidences that choose which tokens to "
        "keep, annealed linearly to 0 over the steps (MaskGIT's 4.5; 0: keep the most likely).",
    )
    conv_kernel: int = Field(
        0,
        ge=0,
        le=15,
        description="Odd k > 0: each MLP's hidden image activations also get a depthwise k x k convolution over the "
        "token grid (a convolutional feed-forward, the locality bias of the sparse transformer's conv_kernel); "
        "0: none.",
    )
    relative_bias: bool = Field(
        False,
        description="Each attention head adds a learned bias per grid offset (dy, dx) between two image tokens "
        "(Swin's relative position bias; zero at start): a locality prior for the bidirectional attention.",
    )
    init_std: float = Field(0.02, gt=0, description="Std of the normal weight initialisation.")
    checkpoint_activations: CheckpointActivations = Field(False, description=checkpoint_description())

    @model_validator(mode="after")
    def _check(self) -> MaskGITParams:
        if self.conv_kernel % 2 == 0 and self.conv_kernel:
            raise ValueError(f"conv_kernel must be odd (or 0), got {self.conv_kernel}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        attention = 4 * self.width * self.width  # qkv + out projections
        mlp = 2 * self.width * round(self.mlp_ratio * self.width)
        genkit.too_many_parameters(self.depth * (attention + mlp), "width x depth (x mlp_ratio)")
        return self
