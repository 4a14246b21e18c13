"""Caption normalisation and word splitting, one caption or a whole batch at a time.

Normalisation (what the tokenizer sees): Unicode NFKC, then lowercase (optional), then every run of whitespace
becomes one space and the ends are stripped. Lone surrogates (which cannot be UTF-8) become U+FFFD.

A batch is normalised as ONE string, the captions joined by ``SEP`` (U+0000): NFKC, ``str.lower`` and the
whitespace collapse never carry across a U+0000 (it is a starter that composes with nothing, is neither cased nor
case-ignorable, and is not whitespace), so this equals normalising each caption alone, with a handful of C-level
string operations instead of Python work per caption. Captions that themselves contain U+0000 take the per-caption
path (see :func:`normalize_batch`).

Words: the normalised text is cut into words by :data:`WORD_RE` (a space sticks to the word after it, as in
GPT-2); BPE never merges across words. Every character belongs to exactly one word, so joining the words gives
the text back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

#: Separator between captions inside a joined batch (never present in a caption on the fast path).
SEP = "\x00"

#: Words: letters, digit runs, other symbols, underscores, each with an optional leading space; SEP alone; and a
#: one-character catch-all so that no character is ever skipped.
WORD_RE = re.compile(r"\x00| ?[^\W\d_]+| ?\d+| ?[^\w\s\x00]+| ?_+|[\s\S]")
WORD_PATTERN_VERSION = 1

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE_RE.sub("\ufffd", text)
    return text


def normalize(text: str, lowercase: bool = True) -> str:
    """The normalised caption: NFKC, lowercase (if asked), whitespace runs -> one space, stripped."""
    if not isinstance(text, str):
        raise TypeError(f"a caption must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", _encodable(text))
    if lowercase:
        text = text.lower()
    return " ".join(text.split())


def joinable(texts: Sequence[str]) -> bool:
    """Whether the batch can take the joined fast path: all strings, none containing :data:`SEP`."""
    try:
        joined = SEP.join(texts)
    except TypeError:
        return False
    return joined.count(SEP) == max(len(texts) - 1, 0)


def normalize_joined(texts: Sequence[str], lowercase: bool = True) -> str:
    """``SEP.join(normalize(t) for t in texts)`` for a :func:`joinable` batch, as whole-string operations."""
    joined = unicodedata.normalize("NFKC", _encodable(SEP.join(texts)))
    if lowercase:
        joined = joined.lower()
    if _clean_spacing(joined):
        return joined
    joined = " ".join(joined.split())
    return joined.replace(" " + SEP, SEP).replace(SEP + " ", SEP)


_ASCII_WHITESPACE_BUT_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"


def _clean_spacing(joined: str) -> bool:
    """True when collapsing whitespace would change nothing (checked with C-level scans; ASCII text only)."""
    if not joined.isascii() or joined.startswith(" ") or joined.endswith(" "):
        return False
    for needle in ("  ", " " + SEP, SEP + " ", *_ASCII_WHITESPACE_BUT_SPACE):
        if needle in joined:
            return False
    return True


def normalize_batch(texts: Sequence[str], lowercase: bool = True) -> list[str]:
    """``[normalize(t) for t in texts]``, computed on the joined batch when it is :func:`joinable`."""
    if not texts:
        return []
    if not joinable(texts):
        return [normalize(t, lowercase) for t in texts]
    return normalize_joined(texts, lowercase).split(SEP)


def split_words(text: str) -> list[str]:
    """The words of a normalised text (``"".join(split_words(t)) == t``)."""
    return WORD_RE.findall(text)
