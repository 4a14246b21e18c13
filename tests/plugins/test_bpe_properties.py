"""Hypothesis properties of the bpe tokenizer: exact round trip, determinism, seeded exact dropout."""

import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import genkit
from genkit.testing.tokenizer import default_corpus
from genkit_bpe.dropout import MergeTable
from genkit_bpe.engine import TO_BYTE_CHARS, encode_words
from genkit_bpe.text import WORD_RE, normalize, normalize_batch

CAPTION = st.text(max_size=60) | st.text(alphabet=st.sampled_from(list("ab cé😀\t\n\u00a0Σשׁ1_.,!\x00")), max_size=40)


@pytest.fixture(scope="module")
def tok():
    params = genkit.make_params("tokenizer", "bpe", {"vocab_size": 600, "max_length": 64, "dropout": 0.3})
    tokenizer = genkit.build_component("tokenizer", params)
    tokenizer.train(default_corpus(600) + ["café crème brûlée", "ΣΙΣΥΦΟΣ σοφός", "שָׁלוֹם", "日本語のテキスト"])
    return tokenizer


@given(CAPTION)
def test_decode_encode_is_normalize_when_it_fits(tok, text):
    batch = tok.encode([text])
    if int(batch.lengths[0]) < tok.max_length:
        assert tok.decode(batch.ids, batch.lengths) == [tok.normalize(text)]


@given(st.lists(CAPTION, max_size=6))
def test_batch_equals_each_alone_and_is_deterministic(tok, texts):
    batch = tok.encode(texts)
    assert torch.equal(batch.ids, tok.encode(texts).ids)
    for i, text in enumerate(texts):
        alone = tok.encode([text])
        assert torch.equal(alone.ids[0], batch.ids[i]) and int(alone.lengths[0]) == int(batch.lengths[i])


@given(st.lists(CAPTION, max_size=6), st.integers(0, 2**32))
def test_dropout_is_seeded_and_exact(tok, texts, seed):
    a = tok.encode(texts, dropout=True, seed=seed)
    assert torch.equal(a.ids, tok.encode(texts, dropout=True, seed=seed).ids)
    for text, decoded, n in zip(texts, tok.decode(a.ids, a.lengths), a.lengths.tolist(), strict=True):
        if n < tok.max_length:
            assert decoded == tok.normalize(text)


@given(st.lists(CAPTION, max_size=8))
def test_joined_normalisation_equals_per_caption(texts):
    assert normalize_batch(texts) == [normalize(t) for t in texts]
    assert normalize_batch(texts, lowercase=False) == [normalize(t, lowercase=False) for t in texts]


@given(CAPTION)
def test_normalize_collapses_whitespace_and_lowercases(text):
    out = normalize(text)
    assert out == out.strip() and "  " not in out and not any(c.isspace() and c != " " for c in out)
    assert "".join(WORD_RE.findall(out)) == out


@given(CAPTION)
def test_dropout_zero_matches_the_engine(tok, text):
    """The Python merge loop used for dropout gives exactly the engine's ids when nothing is dropped."""
    table = MergeTable(tok._vocab, tok._merges)
    words = WORD_RE.findall(tok.normalize(text))
    engine_ids = encode_words(tok._engine, words)
    for word, ids in zip(words, engine_ids, strict=True):
        spelled = word.encode("utf-8").decode("latin-1").translate(TO_BYTE_CHARS)
        assert table.encode_word(spelled, 0.0, random.Random(0)) == ids


def test_dropout_changes_segmentation_but_not_text(tok):
    corpus = default_corpus(200, seed=3)
    plain = tok.encode(corpus)
    dropped = tok.encode(corpus, dropout=True, seed=7)
    other = tok.encode(corpus, dropout=True, seed=8)
    assert not torch.equal(plain.ids, dropped.ids), "dropout 0.3 left every caption unchanged"
    assert not torch.equal(dropped.ids, other.ids), "different seeds gave the same dropout"
    assert int(dropped.lengths.sum()) > int(plain.lengths.sum()), "dropout should make encodings longer"
    assert tok.decode(dropped.ids, dropped.lengths) == tok.decode(plain.ids, plain.lengths)


@given(st.lists(CAPTION.filter(lambda t: "\x00" not in t), min_size=1, max_size=6))
def test_fast_path_equals_per_caption_word_path(tok, texts):
    """The joined, space-chunked, cached path gives the same ids as splitting each caption into words."""
    assert tok._flat_fast(texts).tolist() == tok._flat_each(texts).tolist()


def test_tokenizer_pickles_for_data_loader_workers(tok):
    import pickle

    texts = default_corpus(50, seed=5)
    clone = pickle.loads(pickle.dumps(tok))
    assert torch.equal(clone.encode(texts).ids, tok.encode(texts).ids)
