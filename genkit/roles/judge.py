"""The ``Judge`` protocol: what a ``genkit_select_judge`` hook returns for data it can check (``genkit eval``)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from genkit.roles.dataset import Example


@runtime_checkable
class Judge(Protocol):
    """Says whether an image drawn for a caption shows what the caption says, from the data's ground truth.

    Contract:
    - ``judges(example)``: whether ``example`` (of the validation split) carries the ground truth to judge it.
    - ``judge(image, example)`` -> ``{"faithful": 1.0 or 0.0, attribute: score in [0, 1] or None, ...}`` for an
      ``image`` ``float[3, S, S]`` in ``[0, 1]`` drawn for ``example.caption``; an attribute the caption does not
      state is ``None``. Deterministic, no learned model.
    """

    def judges(self, example: Example) -> bool: ...

    def judge(self, image: torch.Tensor, example: Example) -> dict[str, float | None]: ...
