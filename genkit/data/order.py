"""Which examples make each step's batch: a seeded permutation per epoch and a cursor (the data position)."""

from __future__ import annotations

from typing import Any

import torch

from genkit.errors import InputError


class BatchOrder:
    """Global batches of ``batch`` indices into ``n`` examples, epoch after epoch, each epoch freshly shuffled
    from ``(seed, epoch)``. The position (``epoch``, ``offset``) is all the state: a checkpoint stores it and
    the resumed run draws the same batches."""

    def __init__(self, n: int, batch: int, seed: int) -> None:
        if n < 1:
            raise InputError("the training split is empty")
        self.n, self.batch, self.seed = n, batch, seed
        self.epoch, self.offset = 0, 0
        self._perm: list[int] | None = None

    def _permutation(self) -> list[int]:
        if self._perm is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._perm = torch.randperm(self.n, generator=generator).tolist()
        return self._perm

    def next(self) -> list[int]:
        """The next global batch (wraps into the next epoch as needed)."""
        out: list[int] = []
        while len(out) < self.batch:
            perm = self._permutation()
            take = min(self.batch - len(out), self.n - self.offset)
            out.extend(perm[self.offset : self.offset + take])
            self.offset += take
            if self.offset >= self.n:
                self.epoch, self.offset, self._perm = self.epoch + 1, 0, None
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "offset": self.offset}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        epoch = int(state["epoch"])
        if epoch != self.epoch:
            self._perm = None  # the permutation of the same epoch is kept (it depends only on seed and epoch)
        self.epoch, self.offset = epoch, int(state["offset"])


def local_micro_batches(
    indices: list[int], rank: int, world: int, accumulate: int, where: str = "stage"
) -> list[list[int]]:
    """Split a global batch into this rank's ``accumulate`` micro-batches (equal sizes, contiguous)."""
    parts = world * accumulate
    if len(indices) % parts:
        raise InputError(
            f"{where}.batch: {len(indices)} is not divisible by ranks x accumulate = {world} x {accumulate}"
        )
    size = len(indices) // parts
    mine = indices[rank * size * accumulate : (rank + 1) * size * accumulate]
    return [mine[i * size : (i + 1) * size] for i in range(accumulate)]
