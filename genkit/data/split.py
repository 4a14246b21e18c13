"""Deterministic train/validation assignment by hashing an item's key."""

from __future__ import annotations

import hashlib


def hash_fraction(key: str, seed: int = 0) -> float:
    """A number in ``[0, 1)`` that depends only on ``key`` and ``seed`` (stable across runs and machines)."""
    digest = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hash_split(keys: list[str], fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices of ``keys`` for (train, validation): an item is validation when its hash is below ``fraction``.

    With two or more items both splits are non-empty: if the hash puts nothing (or everything) in validation, the
    item with the smallest hash (or the largest) moves.
    """
    scores = [hash_fraction(key, seed) for key in keys]
    validation = [i for i, s in enumerate(scores) if s < fraction]
    train = [i for i, s in enumerate(scores) if s >= fraction]
    if len(keys) >= 2 and not validation:
        first = min(range(len(keys)), key=scores.__getitem__)
        validation, train = [first], [i for i in train if i != first]
    if len(keys) >= 2 and not train:
        last = max(range(len(keys)), key=scores.__getitem__)
        train, validation = [last], [i for i in validation if i != last]
    return train, validation
