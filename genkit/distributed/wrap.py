"""Put a model behind one callable for training: plain, FSDP2 (``fully_shard``) or DDP (+ PowerSGD).

Stages call arbitrary methods (``training_loss``, ``encode``...), not ``forward``; sharded and replicated wrappers
only act around ``forward``. :class:`ModelCall` makes every call a ``forward``: ``call(fn, *args)`` runs
``fn(model, *args)`` inside the wrapper's forward, so FSDP2 gathers the root's parameters and DDP syncs gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from genkit.distributed.env import DistEnv
from genkit.errors import InputError


class ModelCall(nn.Module):
    """``ModelCall(model)(fn, *args) == fn(model, *args)``, run as this module's forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.module = model

    def forward(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(self.module, *args)


def wrap_model(
    model: nn.Module,
    env: DistEnv,
    *,
    mode: str,
    param_dtype: torch.dtype | None = None,
    powersgd_rank: int | None = None,
    recipe_key: str = "stage",
) -> nn.Module:
    """The callable the trainer runs ``model`` through (see the module docstring).

    ``mode``: ``fsdp`` shards each of ``model.shard_units()`` (or, if it declares none, each
    ``residual_blocks()``) with ``fully_shard``, then the root, with a ``MixedPrecisionPolicy`` in ``param_dtype``
    for the units (reductions and outputs in fp32, root parameters fp32). ``ddp`` replicates with
    ``DistributedDataParallel``, optionally compressing gradients with PowerSGD of rank ``powersgd_rank``.
    Single-process runs get the plain :class:`ModelCall`.
    """
    model.to(env.device)
    root = ModelCall(model)
    if not env.distributed:
        return root
    if mode == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = (
            MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32, output_dtype=torch.float32)
            if param_dtype is not None
            else MixedPrecisionPolicy()
        )
        # optional methods (nn.Module's __getattr__ would type them as tensors or modules)
        shard_units = getattr(model, "shard_units", None)
        residual_blocks = getattr(model, "residual_blocks", None)
        units = list(shard_units()) if shard_units is not None else []
        if not units and residual_blocks is not None:
            units = list(residual_blocks())
        for unit in units:
            fully_shard(unit, mp_policy=policy)
        fully_shard(root)
        return root
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(root, device_ids=[env.device.index] if env.device.type == "cuda" else None)
        if powersgd_rank is not None:
            from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook

            state = powerSGD_hook.PowerSGDState(
                process_group=None,
                matrix_approximation_rank=powersgd_rank,
                start_powerSGD_iter=2,
                use_error_feedback=True,
                warm_start=True,
                random_seed=0,
            )
            ddp.register_comm_hook(state, powerSGD_hook.powerSGD_hook)
        return ddp
    raise InputError(f"{recipe_key}.distributed: {mode!r} is not fsdp or ddp")


def is_sharded(wrapped: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(wrapped, FSDPModule)
