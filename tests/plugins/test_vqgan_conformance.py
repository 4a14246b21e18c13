"""The autoencoder conformance suite (genkit.testing.AutoencoderSuite) on tiny vqgan models: VQModel, GumbelVQ,
and VQModel with the PatchGAN discriminator."""

from genkit.testing import AutoencoderSuite

TINY = {
    "ch": 32,
    "ch_mult": [1, 2],
    "num_res_blocks": 1,
    "attn_resolutions": [8],
    "resolution": 16,
    "z_channels": 8,
    "embed_dim": 8,
    "n_embed": 32,
}


class TestVQGAN(AutoencoderSuite):
    kind = "vqgan"
    params = TINY


class TestGumbelVQ(AutoencoderSuite):
    kind = "vqgan"
    params = {**TINY, "quantizer": "gumbel", "temperature_steps": 100}


class TestVQGANWithDiscriminator(AutoencoderSuite):
    kind = "vqgan"
    params = {**TINY, "disc_weight": 0.8, "disc_start": 0, "disc_layers": 1, "disc_ch": 8, "reconstruction": "l2"}
