"""The ``autoencoder`` role: images <-> a grid of discrete tokens (stage 1)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Autoencoder(Protocol):
    """A discrete image autoencoder (``torch.nn.Module``).

    Contract:
    - ``image_size`` (int): the side of the square images it was built for; ``grid`` = ``(h, w)`` tokens for such
      an image; ``vocab_size``: number of codes.
    - ``encode(images)``: ``float[B, 3, H, W]`` in ``[0, 1]`` -> ``LongTensor[B, h, w]`` in ``[0, vocab_size)``.
      Deterministic (argmax, no noise), batch-independent (row ``b`` depends only on image ``b``), no gradient.
      ``H, W`` must be multiples of the downsampling factor, else a one-line ``genkit.InputError``.
    - ``decode(codes)``: ``LongTensor[B, h, w]`` -> ``float[B, 3, h*f, w*f]`` in ``[0, 1]``, deterministic.
    - ``training_loss(images, step)`` -> ``(loss, metrics)``: scalar loss to minimise at optimizer step ``step``
      (schedules such as temperature depend on it) and a dict of float metrics.
    - ``validation_metrics(images)`` -> dict of float metrics (reconstruction MSE/PSNR, codebook usage...).
    - Optional (not checked when built; the trainer looks them up): ``residual_blocks()`` -> modules whose output is
      added to a residual stream (``loss_scaling: per_resblock`` needs it), and ``shard_units()`` -> modules to
      shard one by one under FSDP2 (without it the model is sharded as one unit).
    """

    image_size: int
    grid: tuple[int, int]
    vocab_size: int

    def encode(self, images: torch.Tensor) -> torch.Tensor: ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...

    def training_loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]: ...

    def validation_metrics(self, images: torch.Tensor) -> dict[str, float]: ...
