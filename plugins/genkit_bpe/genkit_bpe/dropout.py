"""Seeded BPE-dropout (Provilkov et al., 2020) for one word, the same merge order as the Hugging Face engine.

The engine's own dropout draws from an unseeded thread RNG, so training would not be reproducible; this module
re-runs the merges in Python with a ``random.Random`` the caller seeds. With ``p = 0`` it gives exactly the
engine's deterministic encoding (a test checks this), and whatever the draws, the pieces concatenate to the word,
so decoding is always exact.

Algorithm (as in ``tokenizers``' ``Word::merge_all``): a heap of candidate merges ordered by (merge rank,
position); each popped candidate is skipped with probability ``p`` (put aside and restored after the next merge
that happens); stale candidates are discarded; the word is done when the heap is empty.
"""

from __future__ import annotations

import heapq
import random


class MergeTable:
    """The trained merges: ``rank[(left, right)]`` and the vocabulary ``ids[token]`` (byte-level strings)."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.ids = vocab
        self.rank = {pair: i for i, pair in enumerate(merges)}

    def encode_word(self, word: str, p: float, rng: random.Random) -> list[int]:
        """Ids of ``word`` (byte-level characters) with each merge candidate dropped with probability ``p``."""
        ids = self.ids
        n = len(word)
        if n == 1:
            return [ids[word]]
        rank = self.rank
        draw = rng.random if p > 0.0 else None
        if n == 2:  # one candidate: merged unless dropped (the general loop would draw exactly once too)
            if (word[0], word[1]) in rank and (draw is None or draw() >= p):
                return [ids[word]]
            return [ids[word[0]], ids[word[1]]]
        symbols: list[str | None] = list(word)
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        heap = [(r, i) for i in range(n - 1) if (r := rank.get((word[i], word[i + 1]))) is not None]
        heapq.heapify(heap)
        skipped: list[tuple[int, int]] = []
        while heap:
            top = heapq.heappop(heap)
            if draw is not None and draw() < p:
                skipped.append(top)
                continue
            if skipped:
                for item in skipped:
                    heapq.heappush(heap, item)
                skipped.clear()
            r, i = top
            j = nxt[i]
            left = symbols[i]
            if left is None or j == -1:
                continue
            right = symbols[j]
            if right is None or rank.get((left, right)) != r:
                continue
            merged = left + right
            symbols[i] = merged
            symbols[j] = None
            k = nxt[j]
            nxt[i] = k
            if k != -1:
                prv[k] = i
                after = symbols[k]
                if after is not None and (rk := rank.get((merged, after))) is not None:
                    heapq.heappush(heap, (rk, i))
            h = prv[i]
            if h != -1 and (before := symbols[h]) is not None and (rh := rank.get((before, merged))) is not None:
                heapq.heappush(heap, (rh, h))
        return [ids[symbol] for symbol in symbols if symbol is not None]  # the merged word: its live symbols
