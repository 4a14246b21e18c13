"""The prior conformance suite (genkit.testing.PriorSuite) on a small masked-token (maskgit) prior."""

from genkit.testing import PriorSuite


class TestMaskGIT(PriorSuite):
    kind = "maskgit"
    params = {"width": 32, "depth": 2, "heads": 4, "steps": 4}
    context = {"text_vocab_size": 40, "text_length": 6, "image_vocab_size": 24, "image_grid": (3, 4)}


class TestMaskGITLocal(PriorSuite):
    """The same prior with the convolutional feed-forward (``conv_kernel``) and the relative position bias, as
    shapes/demo_maskgit uses them."""

    kind = "maskgit"
    params = {"width": 32, "depth": 2, "heads": 4, "steps": 4, "conv_kernel": 3, "relative_bias": True, "mlp_ratio": 2}
    context = {"text_vocab_size": 40, "text_length": 6, "image_vocab_size": 24, "image_grid": (3, 4)}
