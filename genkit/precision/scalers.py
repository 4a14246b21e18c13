"""Gradient scalers with one interface for the trainer: none (fp32/bf16) and dynamic (torch GradScaler).

A scaler does ``backward(loss)``, ``unscale(optimizer)`` (grads now hold their true values), ``step(optimizer)``
(returns whether the update was applied; a non-finite gradient skips it), then ``update()``; it has
``state_dict``/``load_state_dict`` for checkpoints and ``metrics()`` for the log.
"""

from __future__ import annotations

from typing import Any

import torch


class NoScaler:
    """fp32 and bf16: plain backward, every step applied unless a gradient is non-finite."""

    def __init__(self) -> None:
        self.skipped = 0

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()  # type: ignore[no-untyped-call, unused-ignore]  # Tensor.backward is unannotated in torch

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        pass

    def step(self, optimizer: torch.optim.Optimizer, finite: bool = True) -> bool:
        if not finite:
            self.skipped += 1
            return False
        optimizer.step()
        return True

    def update(self) -> None:
        pass

    def metrics(self) -> dict[str, float]:
        return {"skipped_steps": float(self.skipped)}

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped = int(state["skipped"])


class DynamicScaler(NoScaler):
    """fp16 with one global loss scale: ``torch.amp.GradScaler`` (``ShardedGradScaler`` under FSDP)."""

    def __init__(self, device: torch.device, sharded: bool = False, world_size: int = 1) -> None:
        super().__init__()
        self.scaler: torch.amp.GradScaler  # ShardedGradScaler is one
        if sharded:
            from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

            self.scaler = ShardedGradScaler(device=device.type, init_scale=2.0**16)
        else:
            self.scaler = torch.amp.GradScaler(device.type, init_scale=2.0**16)
        self._unscaled = False

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call, unused-ignore]  # untyped in torch

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer, finite: bool = True) -> bool:
        before = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        applied = self.scaler.get_scale() >= before
        if not applied:
            self.skipped += 1
        return applied

    def metrics(self) -> dict[str, float]:
        return {"skipped_steps": float(self.skipped), "loss_scale": float(self.scaler.get_scale())}

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped = int(state["skipped"])
        self.scaler.load_state_dict(state["scaler"])
