"""genkit plugin ``fsq``: the ``autoencoder`` kind ``fsq``."""

from __future__ import annotations

from typing import Any

import genkit
from genkit.helpers import resolve_multipliers
from genkit_dvae.common import grid_for
from genkit_fsq.model import FSQ, KIND
from genkit_fsq.params import FSQParams


def build_fsq(params: FSQParams, context: genkit.BuildContext) -> FSQ:
    """A freshly initialised FSQ autoencoder for ``context.image_size`` (a multiple of ``downsample``)."""
    image_size = context.require("image_size")
    factor, multipliers = resolve_multipliers(params, KIND)
    try:
        params.resolved_levels()
    except ValueError as exc:
        raise genkit.InputError(f"autoencoder {KIND}: {exc}") from None
    return FSQ(params, image_size, grid_for(image_size, factor, KIND), factor, multipliers)


@genkit.hookimpl
def genkit_register_components(register: Any) -> None:
    register(
        "autoencoder",
        KIND,
        params=FSQParams,
        build=build_fsq,
        description="FSQ: a few latent channels bounded and rounded to fixed levels (codes = product of levels), "
        "straight-through, MSE only: no codebook to learn or collapse; dVAE's encoder/decoder family.",
    )
