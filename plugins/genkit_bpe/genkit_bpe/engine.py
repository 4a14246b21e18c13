"""The Hugging Face ``tokenizers`` engine behind the tokenizer: a byte-level BPE model over single words.

genkit does normalisation and word splitting itself (:mod:`genkit_bpe.text`), so the engine sees one word per
sequence: no normaliser, a byte-level pre-tokenizer that does not split (``use_regex=False``), and the byte-level
decoder. Every engine, fresh, trained or loaded, is rebuilt by :func:`make_engine` from ``(vocab, merges)`` so that
its serialisation depends on nothing else (the files round-trip byte for byte).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers


def byte_chars() -> list[str]:
    """GPT-2's printable stand-in for each byte 0..255 (the byte-level alphabet, indexed by byte value)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return [chr(chars[b]) for b in range(256)]


BYTE_CHARS = byte_chars()
#: ``text.encode("utf-8").decode("latin-1").translate(TO_BYTE_CHARS)`` = the byte-level spelling of ``text``.
TO_BYTE_CHARS = {b: c for b, c in enumerate(BYTE_CHARS)}
FROM_BYTE_CHARS = {c: b for b, c in enumerate(BYTE_CHARS)}


def byte_vocab() -> dict[str, int]:
    """The untrained vocabulary: the 256 byte characters, ids in code-point order (as the trainer assigns them)."""
    return {c: i for i, c in enumerate(sorted(BYTE_CHARS))}


def make_engine(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Tokenizer:
    """A one-word-per-sequence byte-level BPE engine with exactly this vocabulary and these merges."""
    engine = Tokenizer(models.BPE(vocab=dict(vocab), merges=merge_pairs(merges)))
    engine.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    engine.decoder = decoders.ByteLevel()
    return engine


def model_of(engine: Tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """``(vocab, merges)`` of an engine's BPE model (either merges format the library has used)."""
    model = json.loads(engine.to_str())["model"]
    return dict(model["vocab"]), merge_pairs(model.get("merges", []))


def merge_pairs(merges: Iterable[Any]) -> list[tuple[str, str]]:
    """Merges as ``(left, right)`` tuples, from either format the library has written (``"left right"`` strings
    or ``[left, right]`` lists)."""
    return [cast("tuple[str, str]", tuple(m.split(" ", 1) if isinstance(m, str) else m)) for m in merges]


def check_model(vocab: Any, merges: Any, where: str) -> str | None:
    """A one-line problem with a loaded ``(vocab, merges)``, or ``None`` if it is a byte-level BPE model."""
    if not isinstance(vocab, dict) or not isinstance(merges, list):
        return f"{where}: not a BPE model (needs model.vocab and model.merges)"
    missing = [c for c in BYTE_CHARS if c not in vocab]
    if missing:
        return f"{where}: vocabulary lacks {len(missing)} of the 256 byte tokens (not a byte-level BPE)"
    ids = sorted(vocab.values())
    if ids != list(range(len(ids))):
        return f"{where}: vocabulary ids are not 0..{len(ids) - 1}"
    return None


def train_engine(
    words: Iterable[list[str]], vocab_size: int, min_frequency: int
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn merges from batches of words (each word one sequence) up to ``vocab_size`` tokens in all."""
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        initial_alphabet=BYTE_CHARS,
        special_tokens=[],
        show_progress=False,
    )
    engine = make_engine(byte_vocab(), [])
    engine.train_from_iterator(words, trainer=trainer)
    return model_of(engine)


def encode_words(engine: Tokenizer, words: list[str]) -> list[list[int]]:
    """Engine ids of each word (a batch call into the Rust engine, parallel across words)."""
    if not words:
        return []
    batch = getattr(engine, "encode_batch_fast", engine.encode_batch)
    return [encoding.ids for encoding in batch(words, add_special_tokens=False)]
