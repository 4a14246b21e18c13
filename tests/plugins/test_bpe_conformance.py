"""The tokenizer conformance suite (genkit.testing.TokenizerSuite) on the bpe plugin."""

from genkit.testing import TokenizerSuite


class TestBPE(TokenizerSuite):
    kind = "bpe"
    params = {"vocab_size": 400, "max_length": 32}
