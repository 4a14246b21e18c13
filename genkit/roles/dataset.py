"""The ``dataset`` role: image-caption pairs, with a train and a validation split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch


class Example(NamedTuple):
    """One item: ``image`` ``float[3, S, S]`` in ``[0, 1]``, its ``caption``, and free-form ``meta`` (for the
    synthetic data: the ground-truth attributes, e.g. ``{"shapes": [{"shape": "circle", "color": "red", ...}]}``)."""

    image: torch.Tensor
    caption: str
    meta: dict[str, Any]


@runtime_checkable
class Dataset(Protocol):
    """A source of image-caption pairs.

    Contract:
    - ``image_size``: every image is ``[3, image_size, image_size]``.
    - ``split(name)`` for ``name`` in ``{"train", "validation"}`` returns a ``Sequence[Example]`` (``len`` and
      ``__getitem__``), deterministic for a given recipe; the two splits never share an item.
    - ``captions(name)``: the captions of a split, without loading images (tokenizer training).
    - Unreadable items are skipped and counted (``skipped``), never fatal; a split with nothing readable is a
      one-line ``genkit.InputError``.
    - ``in_memory`` (optional, default False): the items are already in memory, so training reads them in the
      training process (DataLoader workers would only copy them).
    - ``check()`` (optional): raise a one-line ``genkit.InputError`` now when the data cannot be found (an index
      file, a shard pattern); called before any stage trains.

    A *streamed* dataset (``streamed = True``, e.g. ``webdataset``) is too large for random access. Its
    ``stream(name)`` returns a :class:`genkit.data.loader.PartSource` (shards read in order, raw samples decoded in
    DataLoader workers) that every stage streams; its ``split("validation")`` is a bounded head held in memory
    (``split("train")`` may refuse); ``captions(name)`` may be an iterator.
    """

    image_size: int

    def split(self, name: str) -> Sequence[Example]: ...

    def captions(self, name: str) -> list[str]: ...
