"""Plugin entry point (``[project.entry-points.genkit] maskgit``): registers the masked-token prior."""

from __future__ import annotations

from typing import Any

import genkit
from genkit.helpers import prior_sizes
from genkit_maskgit.params import MaskGITParams


def build_prior(params: MaskGITParams, context: genkit.BuildContext):
    """Build the prior for the recipe's tokenizer (text vocab and length) and autoencoder (image vocab and grid)."""
    from genkit_maskgit.model import MaskGITPrior

    return MaskGITPrior(params, **prior_sizes(context))


@genkit.hookimpl
def genkit_register_components(register: Any) -> None:
    register(
        "prior",
        "maskgit",
        params=MaskGITParams,
        build=build_prior,
        description="MaskGIT-style masked-token prior: a bidirectional transformer over [text ; image tokens], "
        "trained on cosine-scheduled masks, sampled by iterative parallel decoding (params.steps forward passes "
        "per image), with classifier-free guidance, completion and inpainting.",
    )
