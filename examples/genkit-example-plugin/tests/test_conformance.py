"""The byte tokenizer against genkit's tokenizer conformance suite: one import, and pytest runs every check.

``pip install -e .`` (so that genkit finds the plugin through its entry point), then ``pytest``.
"""

from genkit.testing import TokenizerSuite


class TestBytesTokenizer(TokenizerSuite):
    kind = "bytes"
    params = {"max_length": 64}


class TestBytesTokenizerKeepingCase(TestBytesTokenizer):
    params = {"max_length": 64, "lowercase": False}
