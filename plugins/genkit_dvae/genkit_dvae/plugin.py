"""genkit plugin ``dvae``: the ``autoencoder`` kind ``dvae`` and the ``genkit import openai-dvae`` command."""

from __future__ import annotations

from typing import Any

import genkit
from genkit_dvae.common import grid_for
from genkit_dvae.model import DVAE, KIND
from genkit_dvae.networks import default_multipliers, groups_for_downsample
from genkit_dvae.params import DVAEParams


def resolve_multipliers(params: Any, kind: str) -> tuple[int, list[int]]:
    """``(factor, multipliers)`` from ``downsample``/``multipliers``; a one-line InputError when they disagree."""
    try:
        groups = groups_for_downsample(params.downsample, f"autoencoder {kind}: downsample")
    except ValueError as exc:
        raise genkit.InputError(str(exc)) from None
    multipliers = list(params.multipliers) if params.multipliers is not None else default_multipliers(groups)
    if len(multipliers) != groups or any(m < 1 for m in multipliers):
        raise genkit.InputError(
            f"autoencoder {kind}: multipliers needs {groups} positive entries for downsample {params.downsample}, "
            f"got {multipliers}"
        )
    return params.downsample, multipliers


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
