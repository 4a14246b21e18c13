"""The prior conformance suite (genkit.testing.PriorSuite) on a small masked-token (maskgit) prior."""

from genkit.testing import PriorSuite


class TestMaskGIT(PriorSuite):
    kind = "maskgit"
    params = {"width": 32, "depth": 2, "heads": 4, "steps": 4}
    context = {"text_vocab_size": 40, "text_length": 6, "image_vocab_size": 24, "image_grid": (3, 4)}
