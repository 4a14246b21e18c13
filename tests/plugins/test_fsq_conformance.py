"""The autoencoder conformance suite (genkit.testing.AutoencoderSuite) on small fsq models: default levels from a
power-of-two codebook, and levels named (odd and even)."""

from genkit.testing import AutoencoderSuite

SMALL = {"codebook_size": 64, "downsample": 4, "hidden": 8, "blocks_per_group": 1, "codebook_dim": 8}


class TestFSQ(AutoencoderSuite):
    kind = "fsq"
    params = SMALL
    image_size = 16


class TestFSQNamedLevels(AutoencoderSuite):
    kind = "fsq"
    params = {**SMALL, "codebook_size": 60, "levels": [5, 4, 3]}
    image_size = 8
