"""A tiny complete export shared by the sampling tests (tokenizer trained on a few captions, others untrained)."""

from __future__ import annotations

import pytest
import torch

import genkit
from genkit.sample import Pipeline

CAPTIONS = ["a red circle", "a blue square at the top left", "a small green triangle", "a yellow diamond"] * 4


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """A complete export of tiny components (tokenizer trained on a few captions, others untrained)."""
    out = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    context = genkit.BuildContext(image_size=16)
    specs = {
        "tokenizer": ("bpe", {"vocab_size": 300, "max_length": 12}),
        "autoencoder": (
            "dvae",
            {"codebook_size": 32, "downsample": 4, "hidden": 16, "codebook_dim": 16, "blocks_per_group": 1},
        ),
        "prior": ("sparse_transformer", {"width": 32, "depth": 2, "heads": 2}),
        "reranker": (
            "contrastive",
            {"width": 32, "depth": 1, "heads": 2, "image_widths": [8, 16], "groups": 4, "embed_dim": 16},
        ),
    }
    for role in ("tokenizer", "autoencoder", "prior", "reranker"):
        kind, values = specs[role]
        params = genkit.make_params(role, kind, values)
        component = genkit.build_component(role, params, context)
        if role == "tokenizer":
            component.train(CAPTIONS)
            context = context.with_(text_vocab_size=component.vocab_size, text_length=component.max_length)
        if role == "autoencoder":
            context = context.with_(image_vocab_size=component.vocab_size, image_grid=tuple(component.grid))
        genkit.save_component(out, role, component, params, context)
    return out


@pytest.fixture(scope="module")
def pipeline(export_dir):
    return Pipeline.from_export(export_dir)
