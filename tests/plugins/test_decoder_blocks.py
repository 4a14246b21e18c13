"""``decoder_blocks``: a count of resblocks for each decoder group (dvae, vqvae and fsq share the networks)."""

import pytest
import torch

import genkit
from genkit.errors import RecipeError
from genkit.recipe import load_recipe
from genkit_dvae.networks import ResBlock

SMALL = {"downsample": 4, "hidden": 8, "blocks_per_group": 1, "codebook_dim": 4}
KINDS = {"dvae": {"codebook_size": 16}, "vqvae": {"codebook_size": 16}, "fsq": {"levels": [5, 3], "codebook_size": 15}}


def build(kind, **overrides):
    params = genkit.make_params("autoencoder", kind, {**SMALL, **KINDS[kind], **overrides})
    return genkit.build_component("autoencoder", params, genkit.BuildContext(image_size=16))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_decoder_group_has_its_count_and_the_encoder_keeps_its_own(kind):
    model = build(kind, decoder_blocks=[3, 2, 1])
    decoder_groups = [getattr(model.decoder.blocks, f"group_{g}") for g in (1, 2, 3)]
    assert [sum(isinstance(m, ResBlock) for m in group.children()) for group in decoder_groups] == [3, 2, 1]
    assert len(model.encoder.resblocks()) == 3
    # the post-gain counts the decoder's own resblocks (OpenAI's 1 / n_layers**2)
    assert {block.res_path.post_gain for block in model.decoder.resblocks()} == {1 / 36}
    assert {block.res_path.post_gain for block in model.encoder.resblocks()} == {1 / 9}
    images = torch.rand(2, 3, 16, 16)
    codes = model.encode(images)
    assert codes.shape == (2, 4, 4)
    assert model.decode(codes).shape == images.shape


def test_the_default_is_blocks_per_group_in_every_group():
    explicit, default = build("vqvae", decoder_blocks=[2, 2, 2], blocks_per_group=2), build("vqvae", blocks_per_group=2)
    shapes = {k: v.shape for k, v in default.state_dict().items()}
    assert {k: v.shape for k, v in explicit.state_dict().items()} == shapes


def test_a_cheap_low_resolution_block_adds_few_parameters():
    base = sum(p.numel() for p in build("vqvae").parameters())
    low = sum(p.numel() for p in build("vqvae", decoder_blocks=[2, 1, 1]).parameters())
    high = sum(p.numel() for p in build("vqvae", decoder_blocks=[1, 1, 2]).parameters())
    assert base < high < low  # the lowest-resolution group is the widest (hidden x 4 at downsample 4)


@pytest.mark.parametrize("blocks", [[1, 1], [1, 1, 1, 1], [1, 0, 1]])
def test_a_wrong_count_of_entries_is_a_one_line_error(blocks):
    with pytest.raises(genkit.InputError, match=r"autoencoder vqvae: decoder_blocks needs 3 positive entries") as info:
        build("vqvae", decoder_blocks=blocks)
    assert "\n" not in str(info.value)


def test_a_recipe_with_a_wrong_count_names_the_key():
    with pytest.raises(RecipeError, match=r"autoencoder\.decoder_blocks: needs 3 positive entries"):
        load_recipe("icons/vqvae_32px", ["autoencoder.decoder_blocks=[2, 2]"])
