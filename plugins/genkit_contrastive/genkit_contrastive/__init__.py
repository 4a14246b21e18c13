"""genkit-contrastive: the ``contrastive`` reranker (a CLIP-style dual encoder trained with symmetric InfoNCE).

Registered through the entry point ``contrastive = "genkit_contrastive.plugin"``; recipes name it with
``reranker: {kind: contrastive, ...}``.
"""

from genkit_contrastive.model import ContrastiveReranker
from genkit_contrastive.params import ContrastiveParams

__all__ = ["ContrastiveParams", "ContrastiveReranker"]
