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
        symbols = list(word)
        n = len(symbols)
        if n == 1:
            return [self.ids[word]]
        rank = self.rank
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        prv = list(range(-1, n - 1))
        alive = [True] * n
        heap = [(r, i) for i in range(n - 1) if (r := rank.get((symbols[i], symbols[i + 1]))) is not None]
        heapq.heapify(heap)
        skipped: list[tuple[int, int]] = []
        while heap:
            top = heapq.heappop(heap)
            if p > 0.0 and rng.random() < p:
                skipped.append(top)
                continue
            for item in skipped:
                heapq.heappush(heap, item)
            skipped.clear()
            r, i = top
            j = nxt[i]
            if not alive[i] or j == -1 or rank.get((symbols[i], symbols[j])) != r:
                continue
            symbols[i] += symbols[j]
            alive[j] = False
            k = nxt[j]
            nxt[i] = k
            if k != -1:
                prv[k] = i
                if (rk := rank.get((symbols[i], symbols[k]))) is not None:
                    heapq.heappush(heap, (rk, i))
            h = prv[i]
            if h != -1 and (rh := rank.get((symbols[h], symbols[i]))) is not None:
                heapq.heappush(heap, (rh, h))
        ids = self.ids
        out = []
        i = 0
        while i != -1:
            out.append(ids[symbols[i]])
            i = nxt[i]
        return out
