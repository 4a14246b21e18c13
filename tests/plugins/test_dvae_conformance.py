"""The shared autoencoder conformance suite, run against small dvae models (soft and straight-through)."""

import pytest

import genkit
from genkit.testing import autoencoder as suite


def build_small(image_size: int, **overrides):
    values = {"codebook_size": 32, "downsample": 4, "hidden": 8, "blocks_per_group": 1, "codebook_dim": 8, **overrides}
    params = genkit.make_params("autoencoder", "dvae", values)
    context = genkit.BuildContext(image_size=image_size)
    return genkit.build_component("autoencoder", params, context), params, context


@pytest.mark.parametrize("check", list(suite.CHECKS))
def test_dvae_conformance(check, tmp_path):
    suite.run_check(check, build_small, image_size=16, directory=tmp_path)


def test_dvae_conformance_straight_through_non_square_widths(tmp_path):
    suite.run_all(
        lambda size: build_small(size, straight_through=True, multipliers=[1, 3, 2], blocks_per_group=2),
        image_size=12,
        directory=tmp_path,
    )
