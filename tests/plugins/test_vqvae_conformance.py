"""The autoencoder conformance suite (genkit.testing.AutoencoderSuite) on small vqvae models: codebook learned by
its loss, and by EMA."""

from genkit.testing import AutoencoderSuite

SMALL = {"codebook_size": 32, "downsample": 4, "hidden": 8, "blocks_per_group": 1, "codebook_dim": 8}


class TestVQVAE(AutoencoderSuite):
    kind = "vqvae"
    params = SMALL
    image_size = 16


class TestVQVAEEmaCodebook(AutoencoderSuite):
    kind = "vqvae"
    params = {**SMALL, "codebook_update": "ema"}
    image_size = 8


class TestVQVAERotationTrick(AutoencoderSuite):
    kind = "vqvae"
    params = {**SMALL, "codebook_update": "ema", "gradient": "rotation"}
    image_size = 8
