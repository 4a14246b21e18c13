"""dvae specifics: sizes the config allows (hypothesis), clear errors for the ones it does not, schedules, loss."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit
from genkit_dvae.common import cosine_schedule, usage_and_perplexity
from genkit_dvae.model import logit_laplace_nll

SMALL = {"codebook_size": 16, "downsample": 4, "hidden": 4, "blocks_per_group": 1, "codebook_dim": 4}


def build(image_size, **overrides):
    params = genkit.make_params("autoencoder", "dvae", {**SMALL, **overrides})
    return genkit.build_component("autoencoder", params, genkit.BuildContext(image_size=image_size))


@costly(8)  # every example builds a dvae and runs encode and decode (~60 ms on a 2-core CPU)
@given(batch=st.integers(1, 5), side=st.integers(1, 5), downsample=st.sampled_from([1, 2, 4]))
def test_sizes_the_config_allows(batch, side, downsample):
    size = side * downsample
    model = build(size, downsample=downsample)
    assert model.grid == (side, side)
    images = torch.rand(batch, 3, size, size)
    codes = model.encode(images)
    assert codes.shape == (batch, side, side)
    assert model.decode(codes).shape == images.shape


@costly(8)  # every example builds a dvae (~10 ms on a 2-core CPU)
@given(size=st.integers(1, 40).filter(lambda s: s % 4))
def test_sizes_not_divisible_by_the_factor_are_one_line_errors(size):
    with pytest.raises(genkit.InputError, match=rf"image size {size} is not a multiple of the downsampling factor 4"):
        build(size)
    model = build(8)
    with pytest.raises(genkit.InputError, match="not a multiple of the downsampling factor 4") as info:
        model.encode(torch.rand(1, 3, size, size))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"downsample": 3}, "downsample: must be a power of two"),
        ({"multipliers": [1, 2]}, "multipliers needs 3 positive entries"),
        ({"hidden": 6}, "hidden"),
    ],
)
def test_bad_params_are_input_errors(values, message):
    with pytest.raises(genkit.InputError, match=message):
        build(16, **values)


def test_missing_image_size_names_the_data_section():
    params = genkit.make_params("autoencoder", "dvae", SMALL)
    with pytest.raises(genkit.InputError, match="image_size"):
        genkit.build_component("autoencoder", params, genkit.BuildContext())


def test_schedules_follow_the_step_argument():
    model = build(8, temperature_steps=100, kl_weight_steps=10)
    assert model.temperature(0) == pytest.approx(1.0) and model.temperature(100) == pytest.approx(1 / 16)
    assert model.temperature(50) == pytest.approx((1 + 1 / 16) / 2)
    assert (
        model.kl_weight(0) == 0.0
        and model.kl_weight(10) == pytest.approx(6.6)
        and model.kl_weight(10**6) == pytest.approx(6.6)
    )
    _, early = model.training_loss(torch.rand(2, 3, 8, 8), 0)
    _, late = model.training_loss(torch.rand(2, 3, 8, 8), 200)
    assert (early["temperature"], early["kl_weight"]) == (1.0, 0.0)
    assert late["temperature"] == pytest.approx(1 / 16) and late["kl_weight"] == pytest.approx(6.6)
    assert cosine_schedule(5, 2.0, 1.0, 0) == 1.0


def test_logit_laplace_is_a_normalised_density():
    x = torch.linspace(1e-4, 1 - 1e-4, 200_001)
    mu, ln_b = torch.full_like(x, 0.3), torch.full_like(x, math.log(0.7))
    density = torch.exp(-logit_laplace_nll(x, mu, ln_b))
    assert float(torch.trapezoid(density, x)) == pytest.approx(1.0, abs=1e-3)


def test_kl_is_zero_for_uniform_logits_and_log_k_for_one_hot():
    model = build(8)
    with torch.no_grad():
        model.encoder.blocks.output.conv.w.zero_()
        model.encoder.blocks.output.conv.b.zero_()
    _, metrics = model.training_loss(torch.rand(2, 3, 8, 8), 0)
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        model.encoder.blocks.output.conv.b[3] = 1e4
    assert model.validation_metrics(torch.rand(2, 3, 8, 8))["kl"] == pytest.approx(math.log(16), abs=1e-4)
    assert torch.equal(model.encode(torch.rand(2, 3, 8, 8)), torch.full((2, 2, 2), 3))


def test_codebook_statistics():
    usage, perplexity = usage_and_perplexity(torch.tensor([5, 5, 0, 0]))
    assert usage == 0.5 and perplexity == pytest.approx(2.0)
    model = build(8)
    counts = model.code_counts(torch.rand(3, 3, 8, 8))
    assert counts.shape == (16,) and int(counts.sum()) == 3 * 2 * 2


def test_straight_through_decoder_sees_one_hot_codes():
    model = build(8, straight_through=True)
    seen = []
    model.decoder.blocks.input.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    loss, _ = model.training_loss(torch.rand(2, 3, 8, 8), 0)
    z = seen[0]
    assert torch.allclose(z.sum(1), torch.ones(2, 2, 2)) and set(z.detach().unique().tolist()) <= {0.0, 1.0}
    loss.backward()
    assert model.encoder.blocks.output.conv.w.grad.abs().sum() > 0


def test_residual_blocks_are_exact_branches_and_shard_units_cover_every_resblock():
    model = build(16, hidden=8, blocks_per_group=2)
    branches = model.residual_blocks()
    assert branches and len(model.all_residual_paths()) == len(model.shard_units()) == 12
    for block in model.shard_units():
        if block.has_identity_path:
            x = torch.randn(1, block.res_path.conv_1.n_in, 4, 4)
            assert torch.allclose(block(x), x + block.res_path(x))
            assert any(block.res_path is b for b in branches)
        else:
            assert all(block.res_path is not b for b in branches)
    assert model.all_residual_paths()[0].post_gain == pytest.approx(1 / 6**2)
