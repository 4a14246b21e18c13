"""The DALL-E paper's fp16 scheme (§2.4): one gradient scale per residual block.

Each residual branch (``x = x + branch(x)``, declared by the model's ``residual_blocks()``) gets its own scale
``s_i``. Autograd functions are put around the branch by forward hooks:

- at its output, the gradient coming from the residual stream is multiplied by ``s_i`` (so the branch's fp16
  backward sees large, representable values);
- at its input (the stream ``x``, the branch's first argument), the gradient leaving the branch is divided by
  ``s_i``; if it holds any Inf/NaN the whole contribution is replaced by zeros and the block is flagged, so one
  block cannot poison the others through the stream;
- before the optimizer step the branch's parameter gradients (scaled by ``s_i``) are divided by ``s_i``.

After a step with no flagged block (and all other gradients finite) the update is applied and every scale grows
by ``2^(1/1000)``. Otherwise the update is skipped (counted in ``skipped_steps``) and each flagged block's scale
is divided by ``sqrt(2)``, at most once per ``125`` steps per block. Scales start at ``M * 2^13`` and stay in
``[M * 2^7, M * 2^24]``, ``M`` = number of data-parallel ranks. Everything outside the branches (the residual
stream, embeddings, logits) is unscaled and stays fp32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

GROWTH = 2.0 ** (1 / 1000)
BACKOFF = math.sqrt(2.0)
MIN_STEPS_BETWEEN_BACKOFFS = 125


class _ScaleAtOutput(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, output: torch.Tensor, scaler: PerResblockScaler, index: int) -> torch.Tensor:
        ctx.scaler, ctx.index = scaler, index
        return output.view_as(output)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        return grad * ctx.scaler.scales[ctx.index], None, None


class _UnscaleAtInput(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, stream: torch.Tensor, scaler: PerResblockScaler, index: int) -> torch.Tensor:
        ctx.scaler, ctx.index = scaler, index
        return stream.view_as(stream)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        scaler, index = ctx.scaler, ctx.index
        grad = grad.float() / scaler.scales[index]
        bad = ~torch.isfinite(grad).all()
        scaler.flag(index, bad)
        return torch.where(bad, torch.zeros_like(grad), grad), None, None


class PerResblockScaler:
    """Per-residual-block gradient scaling (see the module docstring); the trainer's scaler interface."""

    def __init__(self, blocks: Sequence[nn.Module], world_size: int = 1, device: torch.device | str = "cpu") -> None:
        if not blocks:
            raise ValueError("per-resblock loss scaling needs a model whose residual_blocks() is not empty")
        self.blocks = list(blocks)
        self.world_size = world_size
        self.device = torch.device(device)
        self.min_scale, self.max_scale = world_size * 2.0**7, world_size * 2.0**24
        self.scales = [world_size * 2.0**13] * len(self.blocks)
        self.last_backoff = [-(10**9)] * len(self.blocks)
        self.steps = 0
        self.skipped = 0
        self.flags = torch.zeros(len(self.blocks), dtype=torch.bool, device=self.device)
        self._other_bad = torch.zeros((), dtype=torch.bool, device=self.device)
        self._handles: list[Any] = []
        block_params = {id(p) for block in self.blocks for p in block.parameters()}
        self._params = [[p for p in block.parameters()] for block in self.blocks]
        self._block_param_ids = block_params
        self.install()

    # -- hooks ----------------------------------------------------------------------------------------------
    def install(self) -> None:
        for index, block in enumerate(self.blocks):
            self._handles.append(block.register_forward_pre_hook(self._pre_hook(index), with_kwargs=True))
            self._handles.append(block.register_forward_hook(self._post_hook(index)))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre_hook(
        self, index: int
    ) -> Callable[[nn.Module, tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]] | None]:
        def hook(
            module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
            if not torch.is_grad_enabled() or not args or not isinstance(args[0], torch.Tensor):
                return None
            # torch leaves Function.apply unannotated (only --strict flags the call)
            unscaled = _UnscaleAtInput.apply(args[0], self, index)  # type: ignore[no-untyped-call, unused-ignore]
            return (unscaled, *args[1:]), kwargs

        return hook

    def _post_hook(self, index: int) -> Callable[[nn.Module, tuple[Any, ...], Any], Any]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
            if not torch.is_grad_enabled() or not isinstance(output, torch.Tensor) or not output.requires_grad:
                return None
            # torch leaves Function.apply unannotated (only --strict flags the call)
            return _ScaleAtOutput.apply(output, self, index)  # type: ignore[no-untyped-call, unused-ignore]

        return hook

    def flag(self, index: int, bad: torch.Tensor) -> None:
        self.flags[index] |= bad.to(self.flags.device)

    # -- the trainer's scaler interface ---------------------------------------------------------------------
    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()  # type: ignore[no-untyped-call, unused-ignore]  # Tensor.backward is unannotated in torch

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide each branch's parameter gradients by its scale and flag blocks with non-finite gradients."""
        for index, params in enumerate(self._params):
            grads = [p.grad for p in params if p.grad is not None]
            if not grads:
                continue
            inverse = 1.0 / self.scales[index]
            torch._foreach_mul_(grads, inverse)
            finite = torch.stack([_local(g).float().isfinite().all() for g in grads]).all()
            self.flag(index, ~finite)
        others = [
            p.grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None and id(p) not in self._block_param_ids
        ]
        if others:
            self._other_bad = ~torch.stack([_local(g).float().isfinite().all() for g in others]).all()

    def step(self, optimizer: torch.optim.Optimizer, finite: bool = True) -> bool:
        flags = torch.cat([self.flags.to(torch.float32), self._other_bad.reshape(1).to(torch.float32)])
        if torch.distributed.is_available() and torch.distributed.is_initialized() and self.world_size > 1:
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        flagged = flags[:-1].bool().tolist()
        self.steps += 1
        applied = finite and not any(flags.tolist())
        if applied:
            optimizer.step()
            self.scales = [min(self.max_scale, s * GROWTH) for s in self.scales]
        else:
            self.skipped += 1
            for index, bad in enumerate(flagged):
                if bad and self.steps - self.last_backoff[index] >= MIN_STEPS_BETWEEN_BACKOFFS:
                    self.scales[index] = max(self.min_scale, self.scales[index] / BACKOFF)
                    self.last_backoff[index] = self.steps
        self.flags.zero_()
        self._other_bad = torch.zeros((), dtype=torch.bool, device=self.device)
        return applied

    def update(self) -> None:
        pass

    def metrics(self) -> dict[str, float]:
        return {
            "skipped_steps": float(self.skipped),
            "log2_scale_min": math.log2(min(self.scales)),
            "log2_scale_max": math.log2(max(self.scales)),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "scales": list(self.scales),
            "last_backoff": list(self.last_backoff),
            "steps": self.steps,
            "skipped": self.skipped,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["scales"]) != len(self.scales):
            raise ValueError(f"checkpoint has {len(state['scales'])} block scales, the model {len(self.scales)}")
        self.scales = [float(s) for s in state["scales"]]
        self.last_backoff = [int(s) for s in state["last_backoff"]]
        self.steps, self.skipped = int(state["steps"]), int(state["skipped"])


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """The local shard of a DTensor (FSDP2), or the tensor itself."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor
