"""Parameters of the ``bpe`` tokenizer (the DALL-E paper's settings are the defaults)."""

from __future__ import annotations

from pydantic import Field

import genkit


class BPEParams(genkit.Params):
    """Byte-level BPE over normalised captions: lowercase, NFKC, collapsed whitespace, at most ``max_length`` ids."""

    vocab_size: int = Field(
        16384,
        ge=256,
        le=1 << 20,
        description="Configured vocabulary size: every id is below it, even when training finds fewer merges "
        "(the prior sizes its embedding from it). At least 256: the byte alphabet that makes every text encodable.",
    )
    max_length: int = Field(
        256, ge=1, le=1 << 16, description="Tokens per caption; longer captions are truncated (and counted)."
    )
    dropout: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="BPE-dropout probability, applied only when training code asks for it (encode(dropout=True)); "
        "never at sampling time.",
    )
    lowercase: bool = Field(True, description="Lowercase captions during normalisation (after Unicode NFKC).")
    min_frequency: int = Field(2, ge=1, description="A pair must occur at least this often in the corpus to be merged.")
    cache_words: int = Field(
        262144, ge=0, description="Distinct words whose ids are cached for fast batch encoding (0 disables the cache)."
    )
