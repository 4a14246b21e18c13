"""Where this process runs: single process by default, or one rank of a ``torchrun`` launch.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; multi-node runs use
its rendezvous (``--nnodes``, ``--rdzv-endpoint``) with no change here. The backend is NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect(init: bool = True) -> DistEnv:
    """The environment of this process; under torchrun (``WORLD_SIZE > 1``) also joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and init and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=device)


def shutdown() -> None:
    """Leave the process group this process joined, while the interpreter is still whole.

    ``destroy_process_group`` drops torch's own references to the group. Sharded modules can still hold it, so
    garbage is collected first. A gloo group left for interpreter exit can abort the process (SIGABRT), which
    torchrun then reports as a failed rank.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Average ``tensor`` over the ranks (in place; returns it)."""
    if env.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= env.world_size
    return tensor


def all_reduce_max(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def broadcast_object(value: T, env: DistEnv) -> T:
    """Rank 0's ``value`` on every rank."""
    if not env.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
