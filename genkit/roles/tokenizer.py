"""The ``tokenizer`` role: captions <-> token ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import torch


class TokenBatch(NamedTuple):
    """A batch of encoded captions.

    ``ids``: ``LongTensor[B, T]`` with ``T = max_length``; positions ``>= lengths[b]`` hold 0 and carry no meaning
    (the prior replaces them with its own per-position pad tokens). ``lengths``: ``LongTensor[B]`` in ``[0, T]``.
    """

    ids: torch.Tensor
    lengths: torch.Tensor


@runtime_checkable
class Tokenizer(Protocol):
    """Turns captions into ids and back.

    Contract:
    - ``normalize(text)`` is what the tokenizer sees (lowercase, Unicode NFKC, collapsed whitespace in the paper's
      settings); ``decode(encode([s]))[0] == normalize(s)`` whenever the encoding fits in ``max_length``.
    - ``encode`` is deterministic unless ``dropout=True`` (BPE dropout, training only, seeded by ``seed``); ids
      are in ``[0, vocab_size)``; longer captions are truncated to ``max_length`` tokens.
    - No character is ever unknown (byte fallback).
    - ``truncated``: running count of captions that ``encode`` had to cut to ``max_length`` (a caption of exactly
      ``max_length`` tokens is not cut); the pipeline reports the share of training captions cut.
    - ``save_files(dir)`` / ``load_files(dir)`` write and read everything needed to reproduce ids bit for bit.
    """

    vocab_size: int
    max_length: int
    truncated: int

    def normalize(self, text: str) -> str: ...

    def encode(self, texts: Sequence[str], *, dropout: bool = False, seed: int | None = None) -> TokenBatch: ...

    def decode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> list[str]: ...

    def train(self, corpus: Iterable[str]) -> None: ...

    def save_files(self, directory: Path) -> None: ...

    def load_files(self, directory: Path) -> None: ...
