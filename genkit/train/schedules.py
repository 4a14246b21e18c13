"""Learning-rate schedules: linear warm-up then constant, cosine to ``min_lr``, or plateau halving (the paper)."""

from __future__ import annotations

import math
from typing import Any

import torch


class LRSchedule:
    """``lr(step)`` for 1-based optimizer steps. ``observe(validation_loss)`` feeds the plateau schedule.

    - warm-up: ``lr * step / warmup`` for ``step <= warmup``;
    - ``constant``: ``lr`` afterwards; ``cosine``: from ``lr`` down to ``min_lr`` at ``steps``;
    - ``plateau``: ``lr`` halved each time the validation loss has not improved for ``plateau_patience``
      validations in a row (never below ``min_lr``).
    """

    def __init__(self, settings: Any) -> None:
        self.kind: str = settings.schedule
        self.peak: float = settings.lr
        self.min_lr: float = settings.min_lr
        self.warmup: int = settings.warmup
        self.total: int = settings.steps
        self.patience: int = settings.plateau_patience
        self.factor = 1.0
        self.best = math.inf
        self.bad = 0

    def lr(self, step: int) -> float:
        if self.warmup and step <= self.warmup:
            return self.peak * step / self.warmup
        if self.kind == "cosine":
            span = max(1, self.total - self.warmup)
            progress = min(1.0, (step - self.warmup) / span)
            return self.min_lr + (self.peak - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
        if self.kind == "plateau":
            return max(self.min_lr, self.peak * self.factor)
        return self.peak

    def observe(self, validation_loss: float) -> bool:
        """Record a validation loss; returns True when the plateau schedule just halved the rate."""
        if self.kind != "plateau" or not math.isfinite(validation_loss):
            return False
        if validation_loss < self.best:
            self.best, self.bad = validation_loss, 0
            return False
        self.bad += 1
        if self.bad >= self.patience:
            self.factor, self.bad = self.factor / 2, 0
            return True
        return False

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.factor, self.best, self.bad = float(state["factor"]), float(state["best"]), int(state["bad"])
