"""genkit-bpe: the ``tokenizer`` kind ``bpe`` (byte-level BPE with DALL-E's conventions)."""

from genkit_bpe.params import BPEParams
from genkit_bpe.tokenizer import BPETokenizer, EncodeStats

__all__ = ["BPEParams", "BPETokenizer", "EncodeStats"]
