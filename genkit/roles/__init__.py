"""Protocols for the roles a component can fill (declared as roles in :mod:`genkit.roles.plugin`), and the
Judge protocol of the ``genkit_select_judge`` hook. A plugin's component satisfies one of these."""

from genkit.roles.autoencoder import Autoencoder
from genkit.roles.dataset import Dataset, Example
from genkit.roles.judge import Judge
from genkit.roles.prior import Prior
from genkit.roles.reranker import Reranker
from genkit.roles.tokenizer import TokenBatch, Tokenizer

__all__ = ["Autoencoder", "Dataset", "Example", "Judge", "Prior", "Reranker", "TokenBatch", "Tokenizer"]
