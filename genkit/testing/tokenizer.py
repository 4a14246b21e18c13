"""The conformance suite every ``tokenizer`` plugin runs (see :class:`genkit.Tokenizer` for the contract).

Use from a plugin's tests::

    from genkit.testing import TokenizerSuite

    class TestMyTokenizer(TokenizerSuite):
        kind = "mykind"
        params = {"vocab_size": 400, "max_length": 32}  # a small vocabulary

Checks (``test_*``): protocol, a configured ``vocab_size`` that training does not change, shapes and ranges of
``encode`` (padding holds 0), the ``decode(encode(s)) == normalize(s)`` round trip, determinism and batch
independence, seeded and exact BPE-style dropout, truncation of a long caption to ``max_length``, edge captions
(empty, whitespace, emoji, right-to-left, control characters), the save/load round trip (same ids; saving again
writes the same bytes) and deterministic training. The checks train on ``corpus`` (default: :func:`default_corpus`,
template captions plus a few multilingual ones; set the class attribute to use another). ``max_length`` must be at
least 16 and hold each of :data:`EDGE_CAPTIONS` whole (a byte-level tokenizer needs 64).

Optional but checked when present: a ``truncated`` counter (captions cut to ``max_length`` so far).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

import genkit
from genkit.testing.suite import Case, Suite

EDGE_CAPTIONS = [
    "",
    "   \t\n  ",
    "A Red  Circle\tat the TOP left.",
    "emoji 😀🎨👩‍🚀 and flags 🇫🇷",
    "שלום עולם مرحبا بالعالم",
    "ﬁne ｗｉｄｅ ① Ⅻ café",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u3000ideographic",
    "\x00nul and \x1b escape",
]


def default_corpus(count: int = 400, seed: int = 0) -> list[str]:
    """Template captions in the style of the synthetic shapes data, plus a few multilingual ones."""
    rng = random.Random(seed)
    sizes = ["small", "large", "tiny", "big"]
    colours = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
    shapes = ["circle", "square", "triangle", "star", "hexagon", "heart"]
    places = ["top left", "top right", "bottom left", "bottom right", "center"]
    captions = [
        f"A {rng.choice(sizes)} {rng.choice(colours)} {rng.choice(shapes)} at the {rng.choice(places)}."
        for _ in range(count)
    ]
    return captions + EDGE_CAPTIONS + ["un cercle rouge", "ein blaues Quadrat", "赤い円", "красный круг"]


@dataclass(kw_only=True)
class TokenizerCase(Case):
    """A tokenizer under test and the ``corpus`` its checks train on."""

    role: ClassVar[str] = "tokenizer"
    corpus: list[str] = field(default_factory=default_corpus)

    def trained(self) -> Any:
        """A fresh build trained on ``corpus``."""
        tokenizer = self.build()
        tokenizer.train(iter(self.corpus))
        return tokenizer


def _check_batch(tok: Any, batch: Any, count: int) -> None:
    assert isinstance(batch, genkit.TokenBatch), f"encode returned {type(batch).__name__}, not genkit.TokenBatch"
    ids, lengths = batch
    assert ids.dtype == torch.long and lengths.dtype == torch.long, f"dtypes {ids.dtype}, {lengths.dtype}: need long"
    assert tuple(ids.shape) == (count, tok.max_length), f"ids shape {tuple(ids.shape)} != ({count}, {tok.max_length})"
    assert tuple(lengths.shape) == (count,), f"lengths shape {tuple(lengths.shape)} != ({count},)"
    if count == 0:
        return
    assert int(lengths.min()) >= 0 and int(lengths.max()) <= tok.max_length, "lengths outside [0, max_length]"
    assert int(ids.min()) >= 0 and int(ids.max()) < tok.vocab_size, f"ids outside [0, {tok.vocab_size})"
    past = torch.arange(tok.max_length)[None, :] >= lengths[:, None]
    assert not ids[past].any(), "positions past a caption's length must hold 0"


def check_protocol(case: TokenizerCase) -> None:
    """Satisfies :class:`genkit.Tokenizer` with a positive ``vocab_size`` and ``max_length >= 16``."""
    tok = case.build()
    assert isinstance(tok, genkit.Tokenizer), f"{type(tok).__name__} does not satisfy genkit.Tokenizer"
    assert isinstance(tok.vocab_size, int) and tok.vocab_size > 0, "vocab_size must be a positive int"
    assert isinstance(tok.max_length, int) and tok.max_length >= 16, "max_length must be an int >= 16 for this suite"


def check_vocab_size_is_configured(case: TokenizerCase) -> None:
    """Training on a tiny corpus must not change ``vocab_size`` (the prior sized its embedding from it)."""
    tok = case.build()
    before = tok.vocab_size
    tok.train(iter(case.corpus[:5]))
    assert tok.vocab_size == before, f"vocab_size changed from {before} to {tok.vocab_size} by training"
    _check_batch(tok, tok.encode(case.corpus), len(case.corpus))


def check_shapes_and_ranges(case: TokenizerCase) -> None:
    """``encode``: a ``TokenBatch`` of long ``ids [B, max_length]`` in the vocabulary, ``lengths [B]``,
    zeros past each length; an empty list gives empty tensors."""
    tok = case.trained()
    _check_batch(tok, tok.encode(case.corpus), len(case.corpus))
    _check_batch(tok, tok.encode([]), 0)


def check_round_trip(case: TokenizerCase) -> None:
    """``decode(encode([s]))[0] == normalize(s)`` for every caption that fits."""
    tok = case.trained()
    ids, lengths = tok.encode(case.corpus)
    texts = tok.decode(ids, lengths)
    fitted = 0
    for caption, text, n in zip(case.corpus, texts, lengths.tolist(), strict=True):
        if n < tok.max_length:
            fitted += 1
            assert text == tok.normalize(caption), f"{caption!r} decodes to {text!r}, not {tok.normalize(caption)!r}"
    assert fitted >= len(case.corpus) // 2, "too few captions fit in max_length to check the round trip"


def check_deterministic_and_batch_independent(case: TokenizerCase) -> None:
    """``encode`` is deterministic, and a caption encodes the same alone and in a batch."""
    tok = case.trained()
    first, again = tok.encode(case.corpus), tok.encode(list(case.corpus))
    assert torch.equal(first.ids, again.ids) and torch.equal(first.lengths, again.lengths), (
        "encode is not deterministic"
    )
    for i in (0, len(case.corpus) // 2, len(case.corpus) - 1):
        alone = tok.encode([case.corpus[i]])
        assert torch.equal(alone.ids[0], first.ids[i]), f"caption {i} encodes differently alone and in a batch"


def check_dropout_seeded_and_exact(case: TokenizerCase) -> None:
    """``encode(dropout=True, seed=s)`` is reproducible, still decodes exactly, and does not leak
    into a plain ``encode``."""
    tok = case.trained()
    a = tok.encode(case.corpus, dropout=True, seed=1)
    b = tok.encode(case.corpus, dropout=True, seed=1)
    assert torch.equal(a.ids, b.ids), "encode(dropout=True, seed=s) is not reproducible"
    _check_batch(tok, a, len(case.corpus))
    for caption, text, n in zip(case.corpus, tok.decode(a.ids, a.lengths), a.lengths.tolist(), strict=True):
        if n < tok.max_length:
            assert text == tok.normalize(caption), f"with dropout {caption!r} decodes to {text!r}"
    plain = tok.encode(case.corpus)
    assert torch.equal(plain.ids, tok.encode(case.corpus).ids), "dropout leaked into a plain encode"


def check_long_caption_truncated(case: TokenizerCase) -> None:
    """A long caption fills ``max_length`` exactly (and counts in ``truncated``); a short one does
    not."""
    tok = case.trained()
    before = getattr(tok, "truncated", None)
    long = " ".join(["a large red circle at the top left"] * 400)
    batch = tok.encode([long, "a red circle"])
    assert int(batch.lengths[0]) == tok.max_length, "a long caption must fill max_length exactly"
    assert int(batch.lengths[1]) < tok.max_length, "a short caption must not be padded to max_length"
    if before is not None:
        assert tok.truncated == before + 1, f"truncated counter went {before} -> {tok.truncated}, expected +1"
    assert tok.normalize(long).startswith(tok.decode(batch.ids[:1], batch.lengths[:1])[0].rstrip("\ufffd"))


def check_edge_captions(case: TokenizerCase) -> None:
    """Empty and whitespace-only captions have length 0; every edge caption round-trips to its
    ``normalize``."""
    tok = case.trained()
    batch = tok.encode(EDGE_CAPTIONS)
    _check_batch(tok, batch, len(EDGE_CAPTIONS))
    assert int(batch.lengths[0]) == 0 and int(batch.lengths[1]) == 0, "empty and whitespace-only captions have length 0"
    for caption, text in zip(EDGE_CAPTIONS, tok.decode(batch.ids, batch.lengths), strict=True):
        assert text == tok.normalize(caption), f"{caption!r} decodes to {text!r}"


def check_save_load_round_trip(case: TokenizerCase) -> None:
    """Through ``genkit.save_component``/``load_component``: same ids, and saving again writes the same bytes."""
    tok = case.trained()
    first = case.scratch("export_a")
    loaded = case.save_and_load(tok, "export_a")
    a, b = tok.encode(case.corpus), loaded.encode(case.corpus)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.lengths, b.lengths), "reloaded tokenizer encodes differently"
    assert loaded.vocab_size == tok.vocab_size and loaded.max_length == tok.max_length, "sizes changed on reload"
    second = case.scratch("export_b")
    genkit.save_component(second, "tokenizer", loaded, case.params, case.context, plugins=case.plugins)
    names = sorted(p.name for p in (first / "tokenizer").iterdir())
    assert names == sorted(p.name for p in (second / "tokenizer").iterdir()), "re-saving writes different files"
    for name in names:
        same = (first / "tokenizer" / name).read_bytes() == (second / "tokenizer" / name).read_bytes()
        assert same, f"tokenizer/{name} differs after a load/save round trip"


def check_training_deterministic(case: TokenizerCase) -> None:
    """Training twice on the same corpus gives the same ids."""
    a, b = case.trained(), case.trained()
    assert torch.equal(a.encode(case.corpus).ids, b.encode(case.corpus).ids), "training twice gives different ids"


class TokenizerSuite(Suite):
    """The tokenizer checks as a test class: subclass it with ``kind`` and ``params`` (see the module docstring)."""

    role: ClassVar[str] = "tokenizer"
    case_type: ClassVar[type[Case]] = TokenizerCase
    corpus: ClassVar[list[str] | None] = None

    def case_options(self, tmp_path: Path) -> dict[str, Any]:
        return {} if self.corpus is None else {"corpus": list(self.corpus)}

    def test_protocol(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_protocol, genkit_conformance)

    def test_vocab_size_is_configured(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_vocab_size_is_configured, genkit_conformance)

    def test_shapes_and_ranges(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_shapes_and_ranges, genkit_conformance)

    def test_round_trip(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_round_trip, genkit_conformance)

    def test_deterministic_and_batch_independent(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_deterministic_and_batch_independent, genkit_conformance)

    def test_dropout_seeded_and_exact(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_dropout_seeded_and_exact, genkit_conformance)

    def test_long_caption_truncated(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_long_caption_truncated, genkit_conformance)

    def test_edge_captions(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_edge_captions, genkit_conformance)

    def test_save_load_round_trip(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_save_load_round_trip, genkit_conformance)

    def test_training_deterministic(self, genkit_conformance: TokenizerCase) -> None:
        self.check(check_training_deterministic, genkit_conformance)
