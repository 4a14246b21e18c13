"""The plugin module the ``genkit`` entry point names: registers ``reranker`` kind ``contrastive``."""

from __future__ import annotations

import genkit
from genkit_contrastive.model import ContrastiveReranker
from genkit_contrastive.params import ContrastiveParams


def build_contrastive(params: ContrastiveParams, context: genkit.BuildContext) -> ContrastiveReranker:
    """A freshly initialised reranker for the recipe's tokenizer (vocabulary, length) and image size."""
    return ContrastiveReranker(
        params,
        text_vocab_size=context.require("text_vocab_size"),
        text_length=context.require("text_length"),
        image_size=context.require("image_size"),
    )


@genkit.hookimpl
def genkit_register_components(register) -> None:
    register(
        "reranker",
        "contrastive",
        params=ContrastiveParams,
        build=build_contrastive,
        description="CLIP-style dual encoder (text transformer over token ids, conv image encoder) trained from "
        "scratch with symmetric InfoNCE and a learned temperature; scores caption-image pairs by cosine similarity.",
    )
