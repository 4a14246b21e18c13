"""The ``dataset`` role: image-caption pairs, with a train and a validation split."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, Sequence, runtime_checkable

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
    """

    image_size: int

    def split(self, name: str) -> Sequence[Example]: ...

    def captions(self, name: str) -> list[str]: ...
