"""Activation checkpointing for plugins: keep a block's input, recompute its activations in the backward pass.

A model whose params declare ``checkpoint_activations`` (type :data:`CheckpointActivations`: ``false``, ``true``
for every block, or ``N`` for every N-th block) runs each of its blocks (transformer blocks, groups of resblocks)
through :func:`run_block`, with the flags of :func:`checkpointed_blocks`::

    flags = checkpointed_blocks(len(self.blocks), params.checkpoint_activations)
    for block, checkpoint in zip(self.blocks, flags):
        x = run_block(block, x, checkpoint=checkpoint)

A checkpointed block stores only its inputs for the backward pass; the backward pass runs its forward again
(``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``, random state restored, so dropout draws the
same mask) and then its backward. Losses and gradients are those of the plain model; the price is one more
forward of each checkpointed block per step (about a third more compute when every block is checkpointed).

It composes with:

- FSDP2: the block is called through ``module(...)``, so when the block is a ``fully_shard`` unit its hooks run;
  in the recomputation FSDP2's pre-backward hook has already gathered the parameters.
- per-resblock fp16 scaling: the branch hooks run again in the recomputation, where they only wrap tensors.
- evaluation and sampling: nothing is checkpointed when the block is in eval mode or autograd is off
  (``no_grad``, ``inference_mode``), nor when the caller passes ``checkpoint=False`` (a KV-cache step).
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import BeforeValidator
from torch import nn
from torch.utils.checkpoint import checkpoint as torch_checkpoint


def _checked_setting(value: Any) -> Any:
    """A ``checkpoint_activations`` value as given, or one clear error (pydantic's would name its union branches)."""
    if isinstance(value, bool) or (isinstance(value, int) and 0 <= value <= 1 << 20):
        return value
    raise ValueError(f"expected true, false or a block interval N >= 0 (every N-th block), got {value!r}")


#: The type of a ``checkpoint_activations`` parameter: ``false`` (off), ``true`` (every block) or ``N >= 0``
#: (every N-th block, the first included; 0 is off, 1 is every block).
CheckpointActivations = Annotated[bool | int, BeforeValidator(_checked_setting)]


def checkpoint_interval(setting: bool | int) -> int:
    """``0`` when checkpointing is off, else ``n``: every n-th block (``true`` is 1)."""
    if isinstance(setting, bool):
        return 1 if setting else 0
    if setting < 0:
        raise ValueError(f"checkpoint_activations must be true, false or an interval >= 0, got {setting}")
    return int(setting)


def checkpointed_blocks(count: int, setting: bool | int) -> list[bool]:
    """For each of ``count`` blocks, whether it is checkpointed: block ``i`` when ``i % n == 0`` (n from
    :func:`checkpoint_interval`), so ``true`` checkpoints all and ``2`` blocks 0, 2, 4, ..."""
    every = checkpoint_interval(setting)
    return [every > 0 and i % every == 0 for i in range(count)]


def run_block(block: nn.Module, *args: Any, checkpoint: bool = True, **kwargs: Any) -> Any:
    """``block(*args, **kwargs)``; with ``checkpoint``, in training mode and with autograd on, its activations are
    recomputed in the backward pass instead of kept (see the module docstring). Tensor arguments that need no
    gradient and non-tensor arguments are fine; the block must not change state outside its outputs (a KV cache)
    when checkpointed, since it runs twice."""
    if checkpoint and block.training and torch.is_grad_enabled() and not torch.is_inference_mode_enabled():
        return torch_checkpoint(block, *args, use_reentrant=False, **kwargs)
    return block(*args, **kwargs)


def checkpoint_description(unit: str = "transformer block") -> str:
    """The ``description`` of a ``checkpoint_activations`` field (the same words in every plugin's reference)."""
    return (
        f"Training memory: keep only each {unit}'s input and recompute its activations in the backward pass "
        f"(same losses and gradients, about a third more compute). true: every {unit}; N: every N-th, the first "
        "included; false or 0: none. Never applies in evaluation or sampling."
    )
