"""The tokenizer conformance suite (genkit.testing.tokenizer) on the bpe plugin."""

import pytest

import genkit
from genkit.testing import tokenizer as suite


@pytest.mark.parametrize("check", sorted(suite.CHECKS))
def test_conformance(check, tmp_path):
    params = genkit.make_params("tokenizer", "bpe", {"vocab_size": 400, "max_length": 32})
    suite.CHECKS[check](suite.TokenizerCase(params, tmp_path))
