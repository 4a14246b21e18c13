"""Collectives for components that must agree across the ranks of a torchrun launch (public:
``genkit.helpers.collectives``).

A component calls these inside its own methods (a forward, a loss) without being told how it was launched: each
function checks whether ``torch.distributed`` is running with more than one rank and, if not, does nothing (or
returns its input). The trainer's launch machinery is ``genkit.distributed``; this module is what plugins use.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.distributed as dist


def world_size() -> int:
    """The number of ranks, 1 outside torchrun."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def sum_over_ranks(*tensors: torch.Tensor | None) -> None:
    """Replace each tensor by its sum over the ranks, in place (``None`` entries are skipped)."""
    if world_size() > 1:
        for tensor in tensors:
            if tensor is not None:
                dist.all_reduce(tensor, op=dist.ReduceOp.SUM)


def from_rank_zero(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` on every rank (every rank passes the same shape)."""
    if world_size() > 1:
        tensor = tensor.contiguous()
        dist.broadcast(tensor, src=0)
    return tensor


def gather_rows(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(every rank's rows concatenated in rank order, index of this rank's first row)``, with gradient.

    Every rank passes the same shape. The backward sums each gathered row's gradient over the ranks and returns it
    to the rank that sent the row: after the data-parallel gradient mean, a loss over the gathered rows trains as
    one process on the global batch would.
    """
    if world_size() == 1:
        return tensor, 0
    # the functional collective torch points to from the deprecated torch.distributed.nn.functional.all_gather
    # (all_gather_single_autograd in torch 2.13, all_gather_tensor_autograd before)
    from torch.distributed import _functional_collectives as functional

    gather = getattr(functional, "all_gather_single_autograd", None) or functional.all_gather_tensor_autograd
    world = cast("dist.ProcessGroup", dist.group.WORLD)  # None only before init_process_group; here it has run
    return gather(tensor.contiguous(), gather_dim=0, group=world), dist.get_rank() * tensor.shape[0]
