"""genkit plugin ``vqvae``: the ``autoencoder`` kind ``vqvae``."""

from __future__ import annotations

from typing import Any

import genkit
from genkit.helpers import resolve_multipliers
from genkit_dvae.common import grid_for
from genkit_vqvae.model import KIND, VQVAE
from genkit_vqvae.params import VQVAEParams


def build_vqvae(params: VQVAEParams, context: genkit.BuildContext) -> VQVAE:
    """A freshly initialised VQ-VAE for ``context.image_size`` (a multiple of ``downsample``)."""
    image_size = context.require("image_size")
    factor, multipliers = resolve_multipliers(params, KIND)
    return VQVAE(params, image_size, grid_for(image_size, factor, KIND), factor, multipliers)


@genkit.hookimpl
def genkit_register_components(register: Any) -> None:
    register(
        "autoencoder",
        KIND,
        params=VQVAEParams,
        build=build_vqvae,
        description="VQ-VAE: nearest codebook vector, straight-through gradient, commitment loss, EMA option, "
        "dead-code restart; dVAE's encoder/decoder family.",
    )
