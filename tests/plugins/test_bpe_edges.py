"""Edge cases of the bpe tokenizer: odd captions, truncation counting, vocabulary bounds, bad input."""

import pytest
import torch

import genkit
from genkit.testing.tokenizer import default_corpus


def make(**values):
    values = {"vocab_size": 500, "max_length": 24, **values}
    return genkit.build_component("tokenizer", genkit.make_params("tokenizer", "bpe", values))


@pytest.fixture(scope="module")
def tok():
    tokenizer = make()
    tokenizer.train(default_corpus(300))
    return tokenizer


def round_trip(tok, text):
    batch = tok.encode([text])
    return tok.decode(batch.ids, batch.lengths)[0], int(batch.lengths[0])


@pytest.mark.parametrize("text", ["", " ", "\t\n \u3000\u00a0 \r\n"])
def test_empty_and_whitespace_only_have_length_zero(tok, text):
    assert round_trip(tok, text) == ("", 0)


@pytest.mark.parametrize("text", ["😀", "a 👩‍🚀 in 🇫🇷", "שלום עולם", "مرحبا بالعالم", "mixed עברית and english"])
def test_emoji_and_rtl_are_exact(tok, text):
    decoded, length = round_trip(tok, text)
    assert decoded == tok.normalize(text) and 0 < length < tok.max_length


def test_normalisation_rules(tok):
    assert tok.normalize("  A  Red\tCIRCLE\n") == "a red circle"
    assert tok.normalize("ﬁ ｗｉｄｅ ①") == "fi wide 1"  # NFKC compatibility forms
    assert make(lowercase=False).normalize("A  Red") == "A Red"


def test_ten_thousand_character_caption_is_truncated_and_counted(tok):
    long = ("a red circle at the top left " * 400)[:10_000]
    tok.reset_counters()
    batch = tok.encode([long, "a blue square", long.upper()])
    assert batch.lengths.tolist()[0] == tok.max_length and batch.lengths.tolist()[2] == tok.max_length
    assert batch.lengths.tolist()[1] < tok.max_length
    assert tok.truncated == 2 and tok.encoded == 3
    assert tok.last_stats.truncated == 2 and tok.last_stats.captions == 3
    assert tok.last_stats.tokens == int(batch.lengths.sum())
    assert tok.normalize(long).startswith(tok.decode(batch.ids[:1], batch.lengths[:1])[0])
    tok.encode(["short"])
    assert tok.truncated == 2 and tok.last_stats.truncated == 0
    tok.reset_counters()
    assert (tok.truncated, tok.encoded) == (0, 0)


def test_exactly_max_length_is_not_counted_as_truncated():
    tok = make(max_length=5)  # untrained: one id per byte
    tok.encode(["abcde", "abcdef"])
    assert tok.last_stats.truncated == 1


def test_vocab_size_is_the_configured_size_even_after_small_training():
    tok = make(vocab_size=5000)
    tok.train(["a red circle", "a blue square"])
    assert tok.vocab_size == 5000 and tok.trained_vocab_size < 5000
    assert int(tok.encode(default_corpus(50)).ids.max()) < tok.trained_vocab_size


def test_training_respects_the_vocab_size():
    tok = make(vocab_size=300, min_frequency=1)
    tok.train(default_corpus(300))
    assert tok.trained_vocab_size == 300


def test_untrained_tokenizer_encodes_bytes(tok):
    raw = make()
    assert raw.trained_vocab_size == 256
    batch = raw.encode(["héllo"])
    assert int(batch.lengths[0]) == len("héllo".encode()) and raw.decode(batch.ids, batch.lengths) == ["héllo"]


def test_lone_surrogates_become_replacement_characters(tok):
    assert round_trip(tok, "a\ud800b")[0] == "a\ufffdb" == tok.normalize("a\ud800b")


def test_nul_inside_a_caption_is_an_ordinary_character(tok):
    texts = ["a\x00b", "red \x00 circle", "plain"]
    batch = tok.encode(texts)
    assert tok.decode(batch.ids, batch.lengths) == [tok.normalize(t) for t in texts]
    assert torch.equal(batch.ids[2], tok.encode(["plain"]).ids[0])


def test_cache_size_does_not_change_ids():
    corpus = default_corpus(200)
    cached, uncached, tiny = make(), make(cache_words=0), make(cache_words=3)
    for t in (cached, uncached, tiny):
        t.train(corpus)
    expected = cached.encode(corpus).ids
    assert torch.equal(uncached.encode(corpus).ids, expected)
    assert torch.equal(tiny.encode(corpus).ids, expected) and torch.equal(tiny.encode(corpus).ids, expected)


def test_bad_input_is_reported(tok):
    with pytest.raises(genkit.InputError, match="caption 1 is a int"):
        tok.encode(["ok", 3])
    with pytest.raises(genkit.InputError, match="not one string"):
        tok.encode("a caption")
    with pytest.raises(genkit.InputError, match="corpus item 1"):
        make().train(["ok", None])
    with pytest.raises(genkit.InputError, match=r"ids must be in \[0, 500\)"):
        tok.decode(torch.tensor([[1, 500]]))
    with pytest.raises(genkit.InputError, match="vocab_size"):
        genkit.make_params("tokenizer", "bpe", {"vocab_size": 100})


def test_decode_accepts_one_row_and_unused_ids(tok):
    ids = tok.encode(["a red circle"]).ids[0]
    assert tok.decode(ids)[0].startswith("a red circle")
    assert tok.decode(torch.tensor([[tok.vocab_size - 1]]), torch.tensor([1])) == ["\ufffd"]


def test_iterable_input_and_empty_batch(tok):
    batch = tok.encode(c for c in ["a", "b"])
    assert tuple(batch.ids.shape) == (2, tok.max_length)
    empty = tok.encode([])
    assert tuple(empty.ids.shape) == (0, tok.max_length) and tuple(empty.lengths.shape) == (0,)


def test_merges_never_cross_a_word_boundary(tok):
    space = "Ġ"  # the byte-level spelling of " "
    assert tok.trained_vocab_size > 300
    assert not [t for t in tok._vocab if space in t[1:]], "a learned token contains a space after its start"
