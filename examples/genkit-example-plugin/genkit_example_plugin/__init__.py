"""A byte-level caption tokenizer registered as ``tokenizer`` kind ``bytes``: genkit's example of a plugin."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from pydantic import Field

import genkit

_SPACES = re.compile(r"\s+")


class BytesTokenizerParams(genkit.Params):
    """Byte-level tokenizer: ids are the UTF-8 bytes of the normalised caption."""

    max_length: int = Field(64, ge=1, description="Maximum caption length in bytes (longer captions are cut).")
    lowercase: bool = Field(True, description="Lowercase captions before encoding (as DALL-E does).")


class BytesTokenizer:
    """Satisfies ``genkit.Tokenizer``. Truncation never splits a UTF-8 character."""

    vocab_size = 256

    def __init__(self, params: BytesTokenizerParams):
        self.max_length = params.max_length
        self.lowercase = params.lowercase
        self.truncated = 0  # captions cut by encode() since construction

    def normalize(self, text: str) -> str:
        text = _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()
        return text.lower() if self.lowercase else text

    def _bytes(self, text: str) -> bytes:
        data = self.normalize(text).encode("utf-8")
        if len(data) <= self.max_length:
            return data
        self.truncated += 1
        cut = self.max_length
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # do not split a multi-byte character
            cut -= 1
        return data[:cut]

    def encode(self, texts: Sequence[str], *, dropout: bool = False, seed: int | None = None) -> genkit.TokenBatch:
        encoded = [self._bytes(text) for text in texts]
        ids = torch.zeros(len(encoded), self.max_length, dtype=torch.long)
        for row, data in enumerate(encoded):
            ids[row, : len(data)] = torch.tensor(list(data), dtype=torch.long)
        lengths = torch.tensor([len(data) for data in encoded], dtype=torch.long)
        return genkit.TokenBatch(ids, lengths)

    def decode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> list[str]:
        rows = ids.tolist()
        counts = lengths.tolist() if lengths is not None else [len(r) for r in rows]
        return [bytes(row[:n]).decode("utf-8", errors="replace") for row, n in zip(rows, counts, strict=True)]

    def train(self, corpus: Iterable[str]) -> None:
        """Bytes need no vocabulary: training only records how many captions it saw (for the logs)."""
        self.trained_on = sum(1 for _ in corpus)

    def save_files(self, directory: Path) -> None:
        (directory / "bytes_tokenizer.json").write_text(json.dumps({"vocab_size": self.vocab_size}))

    def load_files(self, directory: Path) -> None:
        saved = json.loads((directory / "bytes_tokenizer.json").read_text())
        if saved["vocab_size"] != self.vocab_size:
            raise genkit.ExportError(f"{directory}: byte tokenizer with vocab_size {saved['vocab_size']}")


@genkit.hookimpl
def genkit_register_components(register):
    register(
        "tokenizer",
        "bytes",
        params=BytesTokenizerParams,
        build=lambda params, context: BytesTokenizer(params),
        description="UTF-8 byte tokenizer (256 ids, no training) from genkit-example-plugin.",
    )
