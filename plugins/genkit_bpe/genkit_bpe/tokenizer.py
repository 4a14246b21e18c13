"""``BPETokenizer``: the ``tokenizer`` role (kind ``bpe``) with DALL-E's conventions.

- Normalisation (:func:`genkit_bpe.text.normalize`): NFKC, lowercase, collapsed and stripped whitespace.
- Byte-level BPE: the 256 bytes are always in the vocabulary, so no text is ever unknown, and
  ``decode(encode([s]))[0] == normalize(s)`` whenever the encoding fits in ``max_length``.
- ``vocab_size`` is the CONFIGURED size; training never yields more tokens (it may yield fewer).
- ``encode`` returns a :class:`genkit.TokenBatch` (ids ``[B, max_length]``, zeros past each length; no pad id).
- Truncation is counted: ``truncated`` / ``encoded`` (captions cut / encoded since the tokenizer was built or
  ``reset_counters()``) and ``last_stats`` (the latest batch) let the training engine report captions cut.
- BPE dropout only when the caller asks (``encode(texts, dropout=True, seed=...)``), reproducible under ``seed``.

Speed: a batch is normalised and split at spaces as one joined string, each distinct space-delimited chunk is
encoded once (its words by the Rust engine) and cached, and ids are gathered and packed with C-level iteration
and numpy: no Python code runs per caption or per word on the fast path.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

import genkit
from genkit_bpe import engine as eng
from genkit_bpe.dropout import MergeTable
from genkit_bpe.params import BPEParams
from genkit_bpe.text import SEP, WORD_PATTERN_VERSION, WORD_RE, joinable, normalize, normalize_batch, normalize_joined

TOKENIZER_FILE = "tokenizer.json"
META_FILE = "bpe.json"
META_FORMAT = 1
TRAIN_CHUNK = 4096


@dataclass(frozen=True)
class EncodeStats:
    """One ``encode`` call: captions encoded, how many were cut to ``max_length``, ids kept in all."""

    captions: int
    truncated: int
    tokens: int


class BPETokenizer:
    """Byte-level BPE tokenizer; see the module docstring for the contract."""

    _cache: dict[str, tuple[int, ...]]  # chunk -> ids (see _chunk_ids), emptied with each new model
    _merge_table: MergeTable | None  # built on the first encode with dropout

    def __init__(self, params: BPEParams):
        self.params = params
        self.vocab_size = int(params.vocab_size)
        self.max_length = int(params.max_length)
        self.reset_counters()
        self._set_model(eng.byte_vocab(), [])

    # -- state -------------------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        """Picklable (data-loader workers): the recipe's params class is generated at run time, so the params
        travel as a plain :class:`BPEParams`; the engine is rebuilt from the vocabulary and merges, the cache empty."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_engine", "_merge_table", "_cache")}
        state["params"] = BPEParams.model_validate(self.params.model_dump(exclude={"kind"}))
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._engine = eng.make_engine(self._vocab, self._merges)
        self._merge_table = None
        self._cache = {}

    def _set_model(self, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
        if len(vocab) > self.vocab_size:
            raise genkit.InputError(f"bpe: {len(vocab)} tokens exceed the configured vocab_size {self.vocab_size}")
        self._vocab = vocab
        self._merges = merges
        self._engine = eng.make_engine(vocab, merges)
        self._cache = {}
        self._merge_table = None
        token_bytes = [b""] * len(vocab)
        for token, i in vocab.items():
            token_bytes[i] = bytes(eng.FROM_BYTE_CHARS[c] for c in token)
        self._token_bytes = token_bytes

    @property
    def trained_vocab_size(self) -> int:
        """Tokens actually in the vocabulary (<= ``vocab_size``; 256 before training)."""
        return len(self._vocab)

    def reset_counters(self) -> None:
        """Zero ``encoded``, ``truncated`` and ``last_stats``."""
        self.encoded = 0
        self.truncated = 0
        self.last_stats = EncodeStats(0, 0, 0)

    # -- text ----------------------------------------------------------------------------------------------
    def normalize(self, text: str) -> str:
        """What the tokenizer sees of ``text`` (NFKC, lowercase if configured, whitespace collapsed)."""
        try:
            return normalize(text, self.params.lowercase)
        except TypeError as exc:
            raise genkit.InputError(f"bpe: {exc}") from None

    def encode(self, texts: Sequence[str], *, dropout: bool = False, seed: int | None = None) -> genkit.TokenBatch:
        """Encode captions to ``TokenBatch(ids [B, max_length], lengths [B])``; see the module docstring."""
        texts = _as_captions(texts)
        if not texts:
            flat = np.zeros(0, dtype=np.int64)
        elif dropout and self.params.dropout > 0.0:
            flat = self._flat_dropout(texts, random.Random(seed))
        elif joinable(texts):
            flat = self._flat_fast(texts)
        else:
            flat = self._flat_each(texts)
        return self._pack(flat, len(texts))

    def decode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> list[str]:
        """Texts of ``ids`` (``[B, T]`` or ``[T]``), each cut at its length. Ids in ``[trained, vocab_size)`` (never
        produced by encode) decode to U+FFFD."""
        ids = torch.as_tensor(ids)
        if ids.dim() == 1:
            ids = ids[None]
            lengths = None if lengths is None else torch.as_tensor(lengths).reshape(1)
        if ids.dim() != 2:
            raise genkit.InputError(f"bpe decode: ids must be [B, T] or [T], got shape {tuple(ids.shape)}")
        rows = ids.cpu().tolist()
        if lengths is not None:
            cuts = torch.as_tensor(lengths).reshape(-1).tolist()
            if len(cuts) != len(rows):
                raise genkit.InputError(f"bpe decode: {len(rows)} rows of ids but {len(cuts)} lengths")
            rows = [row[: int(n)] for row, n in zip(rows, cuts, strict=True)]
        table = self._token_bytes
        unknown = "\ufffd".encode()
        out = []
        for row in rows:
            if row and (min(row) < 0 or max(row) >= self.vocab_size):
                raise genkit.InputError(
                    f"bpe decode: ids must be in [0, {self.vocab_size}), got {min(row)}..{max(row)}"
                )
            pieces = (table[i] if i < len(table) else unknown for i in row)
            out.append(b"".join(pieces).decode("utf-8", "replace"))
        return out

    # -- encoding paths -----------------------------------------------------------------------------------
    def _chunk_ids(self, chunks: list[str]) -> dict[str, tuple[int, ...]]:
        """A table holding the ids of every chunk in ``chunks`` (the cache, filled by the engine as needed).

        A chunk is a space-delimited piece of the joined batch: ``"\\x00" + piece`` starts a caption (ids: ``-1``,
        the caption marker, then the piece's ids), any other chunk stands for ``" " + chunk``. Its ids are those
        of its words (:data:`WORD_RE`), so caching whole chunks changes no id.
        """
        cache = self._cache
        missing = set(chunks).difference(cache)
        if not missing:
            return cache
        limit = self.params.cache_words
        if len(cache) + len(missing) > limit:
            cache = {}
            missing = set(chunks)
        keys = list(missing)
        texts = [key[1:] if key.startswith(SEP) else " " + key for key in keys]
        words = [WORD_RE.findall(text) for text in texts]
        unique = list(set(chain.from_iterable(words)))
        word_ids = dict(zip(unique, eng.encode_words(self._engine, unique), strict=True))
        for key, parts in zip(keys, words, strict=True):
            ids = tuple(chain.from_iterable(map(word_ids.__getitem__, parts)))
            cache[key] = (-1, *ids) if key.startswith(SEP) else ids
        if limit:
            self._cache = cache
        return cache

    def _flat_fast(self, texts: Sequence[str]) -> np.ndarray:
        """All ids of a joinable batch, one ``-1`` after each caption."""
        joined = SEP + normalize_joined(texts, self.params.lowercase).replace(SEP, " " + SEP)
        chunks = joined.split(" ")
        table = self._chunk_ids(chunks)
        flat = np.fromiter(chain.from_iterable(map(table.__getitem__, chunks)), dtype=np.int64)
        return np.append(flat[1:], -1)

    def _flat_each(self, texts: Sequence[str]) -> np.ndarray:
        """The per-caption path, for captions that contain U+0000 (a real character here, not the separator)."""
        out: list[int] = []
        for text in normalize_batch(texts, self.params.lowercase):
            for ids in eng.encode_words(self._engine, WORD_RE.findall(text)):
                out.extend(ids)
            out.append(-1)
        return np.asarray(out, dtype=np.int64)

    def _flat_dropout(self, texts: Sequence[str], rng: random.Random) -> np.ndarray:
        if self._merge_table is None:
            self._merge_table = MergeTable(self._vocab, self._merges)
        table, p = self._merge_table, float(self.params.dropout)
        out: list[int] = []
        for text in normalize_batch(texts, self.params.lowercase):
            spelled = text.encode("utf-8").decode("latin-1").translate(eng.TO_BYTE_CHARS)
            start = 0
            for word in WORD_RE.findall(text):
                size = len(word.encode("utf-8"))
                out.extend(table.encode_word(spelled[start : start + size], p, rng))
                start += size
            out.append(-1)
        return np.asarray(out, dtype=np.int64)

    def _pack(self, flat: np.ndarray, batch: int) -> genkit.TokenBatch:
        """Scatter ``flat`` (ids, ``-1`` ending each caption) into ``[batch, max_length]`` and count truncation."""
        T = self.max_length
        ends = np.flatnonzero(flat < 0)
        starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
        full = ends - starts
        caption = np.repeat(np.arange(batch), full + 1)
        position = np.arange(flat.size) - starts[caption]
        keep = (flat >= 0) & (position < T)
        ids = np.zeros((batch, T), dtype=np.int64)
        ids[caption[keep], position[keep]] = flat[keep]
        lengths = np.minimum(full, T)
        cut = int((full > T).sum())
        self.encoded += batch
        self.truncated += cut
        self.last_stats = EncodeStats(batch, cut, int(lengths.sum()))
        return genkit.TokenBatch(torch.from_numpy(ids), torch.from_numpy(lengths.astype(np.int64)))

    # -- training ----------------------------------------------------------------------------------------
    def train(self, corpus: Iterable[str]) -> None:
        """Learn the merges from ``corpus`` (captions) in place, up to ``vocab_size`` tokens in all."""
        vocab, merges = eng.train_engine(self._corpus_words(corpus), self.vocab_size, self.params.min_frequency)
        self._set_model(vocab, merges)

    def _corpus_words(self, corpus: Iterable[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        for index, text in enumerate(corpus):
            if not isinstance(text, str):
                raise genkit.InputError(f"bpe train: corpus item {index} is a {type(text).__name__}, not a caption")
            batch.append(text)
            if len(batch) == TRAIN_CHUNK:
                yield self._batch_words(batch)
                batch = []
        if batch:
            yield self._batch_words(batch)

    def _batch_words(self, texts: list[str]) -> list[str]:
        # Separators become one-character words: they carry no pair, so they change no merge.
        if joinable(texts):
            return WORD_RE.findall(normalize_joined(texts, self.params.lowercase))
        return [w for t in normalize_batch(texts, self.params.lowercase) for w in WORD_RE.findall(t)]

    # -- files ---------------------------------------------------------------------------------------------
    def save_files(self, directory: Path) -> None:
        """Write ``tokenizer.json`` (the engine's vocabulary and merges) and ``bpe.json`` (genkit's conventions)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / TOKENIZER_FILE).write_text(self._engine.to_str(pretty=True) + "\n", encoding="utf-8")
        meta = {"format": META_FORMAT, "word_pattern": WORD_RE.pattern, "word_pattern_version": WORD_PATTERN_VERSION}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def load_files(self, directory: Path) -> None:
        """Read what :meth:`save_files` wrote; errors name the file and what is wrong with it."""
        directory = Path(directory)
        meta_path, tok_path = directory / META_FILE, directory / TOKENIZER_FILE
        meta = _read_json(meta_path)
        if (
            not isinstance(meta, dict)
            or meta.get("format") != META_FORMAT
            or meta.get("word_pattern") != WORD_RE.pattern
        ):
            written = meta.get("format") if isinstance(meta, dict) else "?"
            raise genkit.ExportError(
                f"{meta_path}: written by another version of genkit-bpe (format {written}, "
                f"word pattern differs or is missing); retrain the tokenizer"
            )
        model = _read_json(tok_path)
        model = model.get("model") if isinstance(model, dict) else None
        vocab = model.get("vocab") if isinstance(model, dict) else None
        merges = model.get("merges") if isinstance(model, dict) else None
        problem = eng.check_model(vocab, merges, str(tok_path))
        if problem:
            raise genkit.ExportError(problem)
        # what check_model accepts: a dict of ids 0..n-1 and a list of merges
        vocab, merges = cast("dict[str, int]", vocab), cast("list[Any]", merges)
        if len(vocab) > self.vocab_size:
            raise genkit.ExportError(
                f"{tok_path}: {len(vocab)} tokens exceed config.json's vocab_size {self.vocab_size}"
            )
        self._set_model(dict(vocab), eng.merge_pairs(merges))


def _as_captions(texts: Sequence[str]) -> Sequence[str]:
    """``texts`` as a list or tuple of str (checked with one C-level join on the usual path)."""
    if isinstance(texts, str):
        raise genkit.InputError("bpe encode: pass a list of captions, not one string")
    texts = texts if isinstance(texts, (list, tuple)) else list(texts)
    try:
        "".join(texts)
    except TypeError:
        index, bad = next((i, t) for i, t in enumerate(texts) if not isinstance(t, str))
        raise genkit.InputError(f"bpe encode: caption {index} is a {type(bad).__name__}, not a str") from None
    return texts


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise genkit.ExportError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise genkit.ExportError(f"{path}: not valid JSON ({exc})") from None
