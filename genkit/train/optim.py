"""Optimizers: AdamW (fused where available) and bitsandbytes 8-bit AdamW, with decay only on weight matrices."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genkit.errors import InputError


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: weight matrices/kernels (decayed) and gains, biases, embeddings (never decayed)."""
    embedding_params = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.dim() < 2 or id(param) in embedding_params or "embed" in name.rsplit(".", 1)[-1]:
            no_decay.append(param)
        else:
            decay.append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def make_optimizer(
    model: nn.Module, settings: Any, *, sharded: bool = False, recipe_key: str = "stage"
) -> torch.optim.Optimizer:
    """The optimizer ``settings.optim`` names (``adamw`` or ``adamw8bit``), at ``settings.lr``."""
    groups = param_groups(model, settings.weight_decay)
    if not groups:
        raise InputError(f"{recipe_key}: the model has no trainable parameters")
    kwargs = dict(lr=settings.lr, betas=tuple(settings.betas), eps=settings.eps)
    if settings.optim == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError as exc:
            raise InputError(
                f"{recipe_key}.optim: adamw8bit needs bitsandbytes, which is not installed ({exc}); "
                "install it with `pip install 'genkit[bnb]'` or use optim: adamw"
            ) from None
        # bitsandbytes is untyped (unused-ignore: where it is not installed, mypy sees Any)
        optimizer: torch.optim.Optimizer = bnb.optim.AdamW8bit(groups, **kwargs)  # type: ignore[no-untyped-call, unused-ignore]
        return optimizer
    if not sharded:
        try:
            return torch.optim.AdamW(groups, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.AdamW(groups, foreach=True, **kwargs)
