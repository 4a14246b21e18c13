"""The autoencoder conformance suite (genkit.testing.AutoencoderSuite) on small dvae models: soft relaxation, and
straight-through with non-square widths; plus proof that the suite fails a broken autoencoder."""

import pytest

from genkit.testing import AutoencoderSuite

SMALL = {"codebook_size": 32, "downsample": 4, "hidden": 8, "blocks_per_group": 1, "codebook_dim": 8}


class TestDVAE(AutoencoderSuite):
    kind = "dvae"
    params = SMALL
    image_size = 16


class TestDVAEStraightThroughNonSquareWidths(AutoencoderSuite):
    kind = "dvae"
    params = {**SMALL, "straight_through": True, "multipliers": [1, 3, 2], "blocks_per_group": 2}
    image_size = 12


class _Broken(AutoencoderSuite):
    """The dvae with one contract broken (not collected: the name does not start with Test)."""

    kind = "dvae"
    params = SMALL
    breakage = ""

    def build(self, case):
        model = super().build(case)
        if self.breakage == "decode_out_of_range":
            decode = model.decode
            model.decode = lambda codes: decode(codes) + 1.0
        elif self.breakage == "encode_batch_statistics":
            encode = model.encode
            model.encode = lambda images: encode(images - images.mean(0, keepdim=True))
        elif self.breakage == "bad_codes_accepted":
            decode = model.decode
            model.decode = lambda codes: decode(codes.clamp(max=model.vocab_size - 1))
        return model


@pytest.mark.parametrize(
    ("breakage", "check"),
    [
        ("decode_out_of_range", "test_decode"),
        ("encode_batch_statistics", "test_batch_independence"),
        ("bad_codes_accepted", "test_bad_inputs"),
    ],
)
def test_suite_fails_a_broken_autoencoder(breakage, check, tmp_path):
    suite = type("Broken", (_Broken,), {"breakage": breakage})()
    with pytest.raises(AssertionError, match=rf"autoencoder conformance, check '{check[5:]}' \(dvae\): "):
        getattr(suite, check)(suite.make_case(tmp_path))
