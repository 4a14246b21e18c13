"""Conformance suites that every plugin runs against its components.

Import the suite for a role from its module (``genkit.testing.autoencoder``, ``genkit.testing.tokenizer``,
``genkit.testing.prior``, ``genkit.testing.reranker``) and call it from the plugin's tests.
"""
