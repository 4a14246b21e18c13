"""Parameters of ``autoencoder: {kind: fsq}``. Network sizes mean the same as dvae's and vqvae's (clean ablations)."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from genkit.helpers import ConvAutoencoderParams
from genkit.plugins.context import BuildContext

MAX_LEVEL = 1 << 8


def default_levels(codebook_size: int) -> tuple[int, ...] | None:
    """Levels for a power-of-two codebook: threes of bits as 8s, the rest as 4s (2**9 -> 8,8,8; 2**13 ->
    8,8,8,4,4; 2**14 -> 8,8,8,8,4); None for other sizes (name ``levels`` then)."""
    bits = codebook_size.bit_length() - 1
    if codebook_size < 4 or 1 << bits != codebook_size:
        return None
    eights, rest = divmod(bits, 3)
    if rest == 1 and eights:
        return (8,) * (eights - 1) + (4, 4)
    return (8,) * eights + ((4,) if rest == 2 else (2,) if rest == 1 else ())


class FSQParams(ConvAutoencoderParams):
    """FSQ (Mentzer et al. 2023): each of a few latent channels bounded and rounded to a few levels; no codebook to
    learn, no commitment loss, every code reachable."""

    codebook_size: Annotated[int, ConvAutoencoderParams.model_fields["codebook_size"]] = Field(
        description="Number of codes K: the product of levels (a power of two picks levels by itself)."
    )
    codebook_dim: Annotated[int, ConvAutoencoderParams.model_fields["codebook_dim"]] = Field(
        description="Width of the decoder's first layer (a 1x1 conv from the len(levels) quantized channels)."
    )
    levels: tuple[Annotated[int, Field(ge=2, le=MAX_LEVEL)], ...] | None = Field(
        None,
        description="Levels per latent channel, e.g. [8, 8, 8] for 512 codes or [8, 5, 5, 5] for 1000 (the paper's "
        "tables); their product must be codebook_size. Default: from a power-of-two codebook_size.",
    )

    def resolved_levels(self) -> tuple[int, ...]:
        """``levels``, or the default for ``codebook_size``; raises ``ValueError`` when neither fits."""
        levels = self.levels or default_levels(self.codebook_size)
        if levels is None:
            raise ValueError(f"codebook_size {self.codebook_size} is not a power of two: name levels (product = K)")
        if math.prod(levels) != self.codebook_size:
            raise ValueError(
                f"levels {list(levels)} make {math.prod(levels)} codes, not codebook_size {self.codebook_size}"
            )
        return tuple(levels)

    def recipe_problems(self, context: BuildContext) -> dict[str, str]:
        problems = super().recipe_problems(context)
        try:
            self.resolved_levels()
        except ValueError as exc:
            problems["levels"] = str(exc)
        return problems
