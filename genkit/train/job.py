"""What a stage hands the trainer (:class:`StageJob`), and the small pieces stages share with it: seeding,
moving a batch to a device, and the error an interrupted run ends with."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genkit.errors import GenkitError

LossFn = Callable[[nn.Module, Any, int], "tuple[torch.Tensor, dict[str, float]]"]


class InterruptedRun(GenkitError):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint (resume continues from it)."""

    exit_code = 130


@dataclass
class StageJob:
    """What a stage hands the trainer.

    - ``batch(split, indices, step)`` builds one (micro-)batch of examples ``indices`` of ``split`` on the CPU (the
      trainer moves it to the device); for training it runs in DataLoader workers when ``settings.workers`` > 0.
    - ``stream`` (optional): training data streamed in parts (:class:`genkit.data.loader.PartSource`) instead of
      indexed; then ``assemble(items, step)`` builds a micro-batch from decoded items and ``train_size`` is unused,
      and ``prepare(batch)`` (optional) finishes each streamed micro-batch on the device (e.g. uint8 images, which
      cost a quarter of the bytes between processes, to float).
    - ``loss(model, batch, step)`` -> ``(scalar loss, float metrics)``; it runs inside the model wrapper.
    - ``validate_extra(call, step)`` (optional) adds validation metrics; ``call(fn, *args)`` runs
      ``fn(model, *args)`` through the wrapper (needed under FSDP2). Called on every rank, under ``no_grad``.
    - ``identity`` (JSON-able): what else a checkpoint must match to be resumed, beyond the parameter shapes and
      the settings: the component's params, the data, the upstream exports. A prior trained with another
      attention layout (same shapes) or on another autoencoder's tokens is then never resumed as this run's.
    """

    name: str
    model: nn.Module
    settings: Any
    stage_dir: Path
    train_size: int
    validation_size: int
    batch: Callable[[str, list[int], int], Any]
    loss: LossFn
    seed: int = 0
    validate_extra: Callable[[Callable[..., Any], int], dict[str, float]] | None = None
    identity: Any = None
    stream: Any = None
    assemble: Callable[[list[Any], int], Any] | None = None
    prepare: Callable[[Any], Any] | None = None
    in_memory: bool = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` (tensors in tuples, lists and dicts) with every tensor moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
