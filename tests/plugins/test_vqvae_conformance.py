"""The shared autoencoder conformance suite, run against small vqvae models (codebook by loss and by EMA)."""

import pytest

import genkit
from genkit.testing import autoencoder as suite


def build_small(image_size: int, **overrides):
    values = {"codebook_size": 32, "downsample": 4, "hidden": 8, "blocks_per_group": 1, "codebook_dim": 8, **overrides}
    params = genkit.make_params("autoencoder", "vqvae", values)
    context = genkit.BuildContext(image_size=image_size)
    return genkit.build_component("autoencoder", params, context), params, context


@pytest.mark.parametrize("check", list(suite.CHECKS))
def test_vqvae_conformance(check, tmp_path):
    suite.run_check(check, build_small, image_size=16, directory=tmp_path)


def test_vqvae_conformance_ema_codebook(tmp_path):
    suite.run_all(lambda size: build_small(size, codebook_update="ema"), image_size=8, directory=tmp_path)
