"""Protocols for the roles a component can fill. A plugin's component satisfies one of these."""

from genkit.roles.autoencoder import Autoencoder
from genkit.roles.dataset import Dataset, Example
from genkit.roles.prior import Prior
from genkit.roles.reranker import Reranker
from genkit.roles.tokenizer import TokenBatch, Tokenizer

PROTOCOLS = {
    "dataset": Dataset,
    "tokenizer": Tokenizer,
    "autoencoder": Autoencoder,
    "prior": Prior,
    "reranker": Reranker,
}

__all__ = ["Autoencoder", "Dataset", "Example", "Prior", "Reranker", "TokenBatch", "Tokenizer", "PROTOCOLS"]
