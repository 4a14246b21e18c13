"""genkit-sparse-transformer: the DALL-E prior (role ``prior``, kind ``sparse_transformer``)."""

from genkit_sparse_transformer.model import SparseTransformerPrior
from genkit_sparse_transformer.params import SparseTransformerParams

__all__ = ["SparseTransformerParams", "SparseTransformerPrior"]
