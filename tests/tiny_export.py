"""A complete export of tiny components (the tokenizer trained on a few captions, the others untrained), for
tests that sample through genkit.sample.Pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import genkit

CAPTIONS = ["a red circle", "a blue square at the top left", "a small green triangle", "a yellow diamond"] * 4
TOKENIZER = ("bpe", {"vocab_size": 300, "max_length": 12})
AUTOENCODER = ("dvae", {"codebook_size": 32, "downsample": 4, "hidden": 16, "codebook_dim": 16, "blocks_per_group": 1})
PRIOR = ("sparse_transformer", {"width": 32, "depth": 2, "heads": 2})
RERANKER = (
    "contrastive",
    {"width": 32, "depth": 1, "heads": 2, "image_widths": [8, 16], "groups": 4, "embed_dim": 16},
)


def write_tiny_export(
    out: Path, prior: tuple[str, dict[str, Any]] = PRIOR, reranker: tuple[str, dict[str, Any]] | None = RERANKER
) -> Path:
    """Build, in role order, the tokenizer, autoencoder, ``prior`` and ``reranker`` (none: no reranker) at 16 px,
    each with the build context the earlier roles provide, and save them to the export folder ``out``."""
    torch.manual_seed(0)
    registry = genkit.get_registry()
    context = genkit.BuildContext(image_size=16)
    specs = {"tokenizer": TOKENIZER, "autoencoder": AUTOENCODER, "prior": prior}
    if reranker is not None:
        specs["reranker"] = reranker
    for role, (kind, values) in specs.items():
        params = genkit.make_params(role, kind, values)
        component = genkit.build_component(role, params, context)
        if role == "tokenizer":
            component.train(CAPTIONS)
        genkit.save_component(out, role, component, params, context)
        context = context.with_(**registry.role(role).context_from(component))
    return out
