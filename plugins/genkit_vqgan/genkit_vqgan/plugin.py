"""genkit plugin ``vqgan``: the ``autoencoder`` kind ``vqgan`` and the ``genkit import vqgan`` command."""

from __future__ import annotations

from typing import Any

import genkit
from genkit_dvae.common import grid_for
from genkit_vqgan.model import KIND, VQGAN
from genkit_vqgan.params import VQGANParams


def build_vqgan(params: VQGANParams, context: genkit.BuildContext) -> VQGAN:
    """A freshly initialised VQGAN for ``context.image_size`` (a multiple of ``2 ** (len(ch_mult) - 1)``)."""
    image_size = context.require("image_size")
    return VQGAN(params, image_size, grid_for(image_size, params.factor, KIND))


@genkit.hookimpl
def genkit_register_components(register: Any) -> None:
    register(
        "autoencoder",
        KIND,
        params=VQGANParams,
        build=build_vqgan,
        description="taming-transformers' VQGAN (VQModel, GumbelVQ): key-for-key checkpoint layout, VQ losses, "
        "optional PatchGAN.",
    )


@genkit.hookimpl
def genkit_register_commands(cli: Any) -> None:
    from genkit_vqgan.import_command import add_import_command

    add_import_command(cli)
