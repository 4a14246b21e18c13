"""fsq specifics: levels, the code <-> latent bijection, bounding, the straight-through gradient, learning, and
one-line errors for levels that do not make the codebook."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit
from genkit.errors import RecipeError
from genkit.recipe.load import validate_recipe
from genkit_fsq.params import default_levels

SMALL = {"codebook_size": 64, "downsample": 4, "hidden": 8, "blocks_per_group": 1, "codebook_dim": 8}


def build(image_size=8, **overrides):
    params = genkit.make_params("autoencoder", "fsq", {**SMALL, **overrides})
    return genkit.build_component("autoencoder", params, genkit.BuildContext(image_size=image_size))


@given(bits=st.integers(2, 20))
def test_default_levels_make_the_codebook(bits):
    levels = default_levels(2**bits)
    assert levels is not None and math.prod(levels) == 2**bits and all(level in (2, 4, 8) for level in levels)


@costly(10)  # each example builds a small fsq (~20 ms)
@given(levels=st.lists(st.integers(2, 9), min_size=1, max_size=4))
def test_every_code_decodes_to_latents_that_encode_back(levels):
    model = build(codebook_size=math.prod(levels), levels=levels)
    codes = torch.arange(math.prod(levels)).view(1, 1, -1)
    latents = model.latents_of(codes)
    assert latents.shape == (1, len(levels), 1, math.prod(levels)) and latents.abs().max() <= 1
    assert torch.equal(model.codes_of(latents.float()), codes)


@costly(10)
@given(levels=st.lists(st.integers(2, 9), min_size=1, max_size=3), scale=st.floats(0.1, 100))
def test_bounding_rounds_to_exactly_the_levels(levels, scale):
    model = build(codebook_size=math.prod(levels), levels=levels)
    z = torch.linspace(-scale, scale, 4001).view(1, 1, 1, -1).expand(1, len(levels), 1, 4001)
    rounded = model.bound(z).round()
    for channel, level in enumerate(levels):
        values = rounded[0, channel].unique()
        assert len(values) <= level and values.min() >= -(level // 2) and values.max() <= (level - 1) // 2
    if scale >= 50:  # a wide enough sweep reaches every level
        assert all(len(rounded[0, c].unique()) == level for c, level in enumerate(levels))


def test_quantize_passes_gradients_straight_through():
    model = build()
    loss, metrics = model.training_loss(torch.rand(2, 3, 8, 8), 1)
    loss.backward()
    assert model.encoder.blocks.input.w.grad.abs().sum() > 0  # reached through the rounding
    assert set(metrics) >= {"mse", "psnr", "batch_codebook_usage", "batch_perplexity"}


def test_training_reduces_the_loss_on_a_tiny_set():
    torch.manual_seed(0)
    model = build(image_size=16, hidden=16)
    # 8 images of 4x4-pixel blocks, each block one of the 8 corner colours: 3 bits per token, 6 bits to hold them
    images = torch.rand(8, 3, 4, 4).round().repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(150):
        loss, _ = model.training_loss(images, step)
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.3 * first


def test_levels_that_do_not_make_the_codebook_are_one_line_errors():
    with pytest.raises(
        genkit.InputError, match=r"autoencoder fsq: levels \[4, 4\] make 16 codes, not codebook_size 64"
    ):
        build(levels=[4, 4])
    with pytest.raises(genkit.InputError, match="codebook_size 60 is not a power of two: name levels"):
        build(codebook_size=60)
    recipe = {"data": {"kind": "shapes", "size": 16}, "autoencoder": {"kind": "fsq", **SMALL, "levels": [3, 3]}}
    with pytest.raises(RecipeError, match=r"autoencoder.levels: levels \[3, 3\] make 9 codes, not codebook_size 64"):
        validate_recipe(recipe, "r.yaml")
