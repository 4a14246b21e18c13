"""genkit plugin ``dvae``: the ``autoencoder`` kind ``dvae`` and the ``genkit import openai-dvae`` command."""

from __future__ import annotations

from typing import Any

import genkit
from genkit.helpers import resolve_multipliers
from genkit_dvae.common import grid_for
from genkit_dvae.model import DVAE, KIND
from genkit_dvae.params import DVAEParams


def build_dvae(params: DVAEParams, context: genkit.BuildContext) -> DVAE:
    """A freshly initialised dVAE for ``context.image_size`` (a multiple of ``downsample``)."""
    image_size = context.require("image_size")
    factor, multipliers = resolve_multipliers(params, KIND)
    grid = grid_for(image_size, factor, KIND)
    return DVAE(params, image_size, grid, factor, multipliers)


@genkit.hookimpl
def genkit_register_components(register: Any) -> None:
    register(
        "autoencoder",
        KIND,
        params=DVAEParams,
        build=build_dvae,
        description="DALL-E's discrete VAE: gumbel-softmax over K codes, logit-Laplace likelihood, OpenAI's layout.",
    )


@genkit.hookimpl
def genkit_register_commands(cli: Any) -> None:
    from genkit_dvae.import_command import add_import_command

    add_import_command(cli)
