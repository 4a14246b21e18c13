"""The prior conformance suite (genkit.testing.PriorSuite) on a small sparse-transformer prior."""

from genkit.testing import PriorSuite


class TestSparseTransformer(PriorSuite):
    kind = "sparse_transformer"
    params = {"width": 32, "depth": 4, "heads": 4, "conv_kernel": 3}
    context = {"text_vocab_size": 40, "text_length": 6, "image_vocab_size": 24, "image_grid": (3, 4)}
