"""Compute precision (fp32/bf16/fp16) and gradient scaling: none, dynamic (GradScaler) or per residual block."""

from __future__ import annotations

import torch
from torch import nn

from genkit.errors import InputError
from genkit.precision.per_resblock import PerResblockScaler
from genkit.precision.policy import Precision, get_precision
from genkit.precision.scalers import DynamicScaler, NoScaler

__all__ = ["DynamicScaler", "NoScaler", "PerResblockScaler", "Precision", "get_precision", "make_scaler"]


def make_scaler(
    precision: str,
    loss_scaling: str,
    model: nn.Module,
    device: torch.device,
    *,
    world_size: int = 1,
    sharded: bool = False,
    recipe_key: str = "stage",
) -> NoScaler | PerResblockScaler:
    """The gradient scaler for a stage's settings. ``per_resblock`` installs its hooks on ``model`` now."""
    if precision != "fp16":
        return NoScaler()
    if loss_scaling == "dynamic":
        return DynamicScaler(device, sharded=sharded, world_size=world_size)
    # an optional method (nn.Module's __getattr__ would type it as a tensor or a module)
    residual_blocks = getattr(model, "residual_blocks", None)
    blocks = list(residual_blocks()) if residual_blocks is not None else []
    if not blocks:
        raise InputError(
            f"{recipe_key}.loss_scaling: per_resblock needs a model that declares residual_blocks(); "
            f"{type(model).__name__} declares none"
        )
    return PerResblockScaler(blocks, world_size=world_size, device=device)
