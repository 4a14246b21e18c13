"""Sampling: prompts -> candidates (prior, KV cache) -> images (autoencoder) -> reranked best -> PNG grid."""

from genkit.sample.output import write_samples
from genkit.sample.pipeline import Pipeline, PromptSamples

__all__ = ["Pipeline", "PromptSamples", "write_samples"]
