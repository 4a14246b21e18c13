"""The one way every stage reads its training data: a ``torch.utils.data.DataLoader`` over micro-batches.

A stage's data is either **random access** (a ``Sequence``: the shapes data, a folder, a token table in memory) or
**streamed in parts** (a :class:`PartSource`: webdataset shards, token shards too large for memory). Both become an
``IterableDataset`` whose items are whole micro-batches, built in DataLoader worker processes (decoding, resizing
and cropping happen there) and prefetched:

- :class:`MapBatches`: the global batch of each step is a seeded permutation of the indices, epoch after epoch
  (:class:`genkit.data.order.BatchOrder`); this rank takes its share, split into ``accumulate`` micro-batches.
  Worker ``i`` of ``W`` builds micro-batches ``i, i + W, ...``. The position is the micro-batch counter.
- :class:`PartBatches`: each epoch shuffles the parts (seeded), deals them to the ``ranks x workers`` slots (or,
  with fewer parts than slots, deals every part's samples round-robin), shuffles samples inside a part with a
  buffer (webdataset's ``shuffle``, seeded by epoch and part), decodes, and batches. The position of a slot is
  ``(epoch, part, offset)``: a resumed slot re-reads only the raw bytes of its current part up to ``offset``
  (nothing is decoded twice) and continues with exactly the samples an uninterrupted run would have seen.

The DataLoader hands out micro-batches round-robin from its workers, so micro-batch ``j`` always comes from
logical worker ``j % W``; after a resume at counter ``j0`` the physical workers take the logical roles rotated by
``j0 % W``. Training is therefore the same sequence of batches with or without interruption (for a fixed
``workers``), and :class:`TrainStream` exposes the consumed position as ``state_dict()`` for checkpoints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from genkit.data.order import BatchOrder, local_micro_batches
from genkit.data.shards import BadSample, SkipLog
from genkit.errors import InputError

MakeBatch = Callable[[str, list[int], int], Any]


@runtime_checkable
class PartSource(Protocol):
    """A split read as parts (shards), each sequentially, in a fixed order.

    - ``parts()``: the parts' names, in a fixed order.
    - ``read(part, skips)``: the part's raw samples in a fixed order, cheap to produce (no decoding); a damaged
      or vanished part ends early and is counted in ``skips``.
    - ``decode(raw, generator)``: the usable item for a raw sample (random crops draw from ``generator``); raises
      :class:`genkit.data.shards.BadSample` for a sample to skip.
    - ``describe(raw)``: how to name a raw sample in the log (``shard:key``).
    """

    def parts(self) -> list[str]: ...

    def read(self, part: str, skips: SkipLog) -> Iterator[Any]: ...

    def decode(self, raw: Any, generator: torch.Generator) -> Any: ...

    def describe(self, raw: Any) -> str: ...


def _worker() -> tuple[int, int]:
    info = get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


def _seed(*parts: int) -> int:
    value = 0
    for part in parts:
        value = (value * 1_000_003 + int(part)) % (2**62)
    return value


class MapBatches(IterableDataset[tuple[int, Any, None]]):
    """This rank's micro-batches over a random-access split (see the module docstring); yields
    ``(counter, batch, None)``. ``make_batch(split, indices, step)`` builds one micro-batch on the CPU."""

    def __init__(
        self,
        make_batch: MakeBatch,
        n: int,
        batch: int,
        seed: int,
        rank: int,
        world: int,
        accumulate: int,
        start: int = 0,
        recipe_key: str = "stage",
    ) -> None:
        self.make_batch, self.n, self.batch, self.seed = make_batch, n, batch, seed
        self.rank, self.world, self.accumulate, self.start, self.recipe_key = rank, world, accumulate, start, recipe_key
        if n < 1:
            raise InputError(f"{recipe_key}: the training split is empty")

    def __iter__(self) -> Iterator[tuple[int, Any, None]]:
        worker, workers = _worker()
        order = BatchOrder(self.n, self.batch, self.seed)
        counter = self.start + worker
        while True:
            step, micro = divmod(counter, self.accumulate)
            consumed = step * self.batch
            order.load_state_dict({"epoch": consumed // self.n, "offset": consumed % self.n})
            indices = local_micro_batches(order.next(), self.rank, self.world, self.accumulate, self.recipe_key)[micro]
            yield counter, self.make_batch("train", indices, step + 1), None
            counter += workers


@dataclass
class PartPosition:
    """Where one logical worker is in its stream: ``offset`` raw samples of its ``part``-th part of ``epoch``
    have been passed on (used or skipped)."""

    epoch: int = 0
    part: int = 0
    offset: int = 0


class PartBatches(IterableDataset[tuple[int, Any, tuple[int, PartPosition]]]):
    """This rank's micro-batches streamed from a :class:`PartSource` (see the module docstring); yields
    ``(counter, batch, (logical_worker, position_after))``. ``assemble(items, step)`` builds a micro-batch on the
    CPU from decoded items. With ``epochs`` set, stops after that many epochs (the last batch may be short)."""

    def __init__(
        self,
        source: PartSource,
        assemble: Callable[[list[Any], int], Any],
        micro_batch: int,
        seed: int,
        rank: int,
        world: int,
        accumulate: int = 1,
        *,
        shuffle: bool = True,
        shuffle_buffer: int = 1000,
        start: int = 0,
        positions: dict[int, PartPosition] | None = None,
        epochs: int | None = None,
        recipe_key: str = "stage",
    ) -> None:
        self.source, self.assemble, self.micro_batch, self.seed = source, assemble, micro_batch, seed
        self.rank, self.world, self.accumulate = rank, world, accumulate
        self.shuffle, self.shuffle_buffer, self.epochs, self.recipe_key = shuffle, shuffle_buffer, epochs, recipe_key
        self.start, self.positions = start, dict(positions or {})
        self.parts = list(source.parts())
        if not self.parts:
            raise InputError(f"{recipe_key}: the data has no parts (shards) to read")

    def _slot_parts(self, epoch: int, slot: int, slots: int) -> tuple[list[int], bool]:
        """The part numbers this slot reads in ``epoch``, and whether it reads every part (then it keeps every
        ``slots``-th sample of each, from ``slot``)."""
        order = list(range(len(self.parts)))
        if self.shuffle:
            order = torch.randperm(
                len(order), generator=torch.Generator().manual_seed(_seed(self.seed, epoch))
            ).tolist()
        if len(order) >= slots:
            return order[slot::slots], False
        return order, True

    def samples(
        self, logical: int, workers: int, position: PartPosition, skips: SkipLog
    ) -> Iterator[tuple[Any, PartPosition]]:
        """Decoded items of one logical worker from ``position`` on, each with the position after it."""
        slot, slots = self.rank * workers + logical, self.world * workers
        epoch, first, offset = position.epoch, position.part, position.offset
        import webdataset

        while self.epochs is None or epoch < self.epochs:
            mine, every_part = self._slot_parts(epoch, slot, slots)
            yielded = 0
            for k in range(first, len(mine)):
                part = mine[k]
                raw = self.source.read(self.parts[part], skips)
                if every_part:
                    raw = (r for i, r in enumerate(raw) if i % slots == slot)
                if self.shuffle and self.shuffle_buffer > 1:
                    raw = webdataset.filters.shuffle(
                        self.shuffle_buffer, self.shuffle_buffer, seed=_seed(self.seed, epoch, part, 7)
                    )(iter(raw))
                for i, sample in enumerate(raw):
                    if i < offset:
                        continue  # already passed on before the resume: read, never decoded
                    generator = torch.Generator().manual_seed(_seed(self.seed, epoch, part, i, 11))
                    here = PartPosition(epoch, k, i + 1)
                    try:
                        item = self.source.decode(sample, generator)
                    except BadSample as exc:
                        skips.skip(str(exc), self.source.describe(sample))
                        continue
                    yielded += 1
                    yield item, here
                offset = 0
            if yielded == 0 and self.epochs is None and first == 0:
                names = ", ".join(self.parts[p] for p in mine[:3]) + (" ..." if len(mine) > 3 else "")
                raise InputError(
                    f"{self.recipe_key}: no readable sample in a whole epoch of {names} ({skips.summary()} skipped)"
                )
            epoch, first = epoch + 1, 0

    def __iter__(self) -> Iterator[tuple[int, Any, tuple[int, PartPosition]]]:
        worker, workers = _worker()
        rotation = self.start % workers
        logical = (worker + rotation) % workers
        counter = self.start + worker
        position = self.positions.get(logical, PartPosition())
        skips = SkipLog()
        items: list[Any] = []
        here = position
        for item, here in self.samples(logical, workers, position, skips):
            items.append(item)
            if len(items) == self.micro_batch:
                yield counter, self.assemble(items, counter // self.accumulate + 1), (logical, here)
                items, counter = [], counter + workers
        if items:
            yield counter, self.assemble(items, counter // self.accumulate + 1), (logical, here)


def images_to_uint8(images: list[torch.Tensor]) -> torch.Tensor:
    """Stack ``float[3, H, W]`` images in ``[0, 1]`` (decoded from 8-bit files) as ``uint8[B, 3, H, W]``: exact, and
    a quarter of the bytes to copy from a worker process (2 workers deliver 1.77x instead of 1.47x the images/s of
    none on 2 cores, bench_data.py)."""
    return torch.stack([image.mul(255).round_().to(torch.uint8) for image in images])


def uint8_to_images(images: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`images_to_uint8` (on the training device): ``float`` in ``[0, 1]``."""
    return images.float().div_(255.0)


@dataclass
class LoaderSettings:
    """``workers`` DataLoader worker processes (0: in this process), ``prefetch`` micro-batches each."""

    workers: int = 0
    prefetch: int = 2


def auto_workers(requested: int | None, streamed: bool) -> int:
    """``requested``, or the default: 0 for data already in memory, else half the cores (1 to 4)."""
    if requested is not None:
        return requested
    if not streamed:
        return 0
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def make_loader(
    dataset: IterableDataset[Any], settings: LoaderSettings, device: torch.device, seed: int
) -> DataLoader[Any]:
    workers = settings.workers
    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        prefetch_factor=settings.prefetch if workers else None,
        persistent_workers=False,
        pin_memory=device.type == "cuda",
        # a generator of its own: creating the iterator must not draw from the global RNG (same training either way)
        generator=torch.Generator().manual_seed(seed),
        multiprocessing_context="fork" if workers and "fork" in _start_methods() else None,
        worker_init_fn=_init_worker if workers else None,
    )


def _init_worker(worker_id: int) -> None:
    from genkit.cpu_allocator import release_large_blocks

    release_large_blocks()


def _start_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()


class TrainStream:
    """This rank's training micro-batches for a trainer: ``next()`` returns the next micro-batch; ``state_dict()``
    is the position after the last one returned; ``wait_seconds`` adds up the time spent waiting for data."""

    def __init__(
        self,
        build: Callable[[int, dict[int, PartPosition]], IterableDataset[Any]],
        settings: LoaderSettings,
        device: torch.device,
        seed: int,
        streamed: bool,
    ) -> None:
        self.build, self.settings, self.device, self.seed, self.streamed = build, settings, device, seed, streamed
        self.counter = 0
        self.positions: dict[int, PartPosition] = {}
        self.wait_seconds = 0.0
        self._iterator: Iterator[Any] | None = None

    def _start(self) -> Iterator[Any]:
        dataset = self.build(self.counter, dict(self.positions))
        self._iterator = iter(make_loader(dataset, self.settings, self.device, _seed(self.seed, self.counter)))
        return self._iterator

    def next(self) -> Any:
        iterator = self._iterator if self._iterator is not None else self._start()
        began = time.perf_counter()
        try:
            counter, batch, position_of = next(iterator)
        except StopIteration:
            raise InputError("the training data ended (no readable sample left)") from None
        self.wait_seconds += time.perf_counter() - began
        if counter != self.counter:
            raise RuntimeError(f"data loader out of order: micro-batch {counter}, expected {self.counter}")
        self.counter += 1
        if position_of is not None:
            logical, position = position_of
            self.positions[logical] = position
        return batch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"counter": self.counter, "workers": self.settings.workers, "streamed": self.streamed}
        if self.streamed:
            state["positions"] = {str(k): [p.epoch, p.part, p.offset] for k, p in sorted(self.positions.items())}
        return state

    def load_state_dict(self, state: dict[str, Any], recipe_key: str = "stage") -> None:
        if self.streamed and int(state.get("workers", self.settings.workers)) != self.settings.workers:
            raise InputError(
                f"{recipe_key}.workers: the checkpoint streamed its data with {state['workers']} workers; "
                f"resume with the same number (the order of samples depends on it)"
            )
        self.counter = int(state["counter"])
        self.positions = {int(k): PartPosition(*v) for k, v in state.get("positions", {}).items()}
        self.close()

    def close(self) -> None:
        self._iterator = None


def iterate_epoch(
    source: PartSource,
    assemble: Callable[[list[Any], int], Any],
    batch: int,
    *,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
    shuffle: bool = False,
    seed: int = 0,
) -> Iterator[Any]:
    """One pass over ``source`` in batches (the last may be short): every sample once across ranks and workers.
    For encoding, evaluation and the ``genkit data`` commands."""
    dataset = PartBatches(source, assemble, batch, seed, rank, world, shuffle=shuffle, epochs=1)
    loader = make_loader(dataset, LoaderSettings(workers=workers), torch.device("cpu"), seed)
    for _, batch_out, _ in loader:
        yield batch_out
