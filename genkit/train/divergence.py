"""Stop a run that has diverged instead of exporting garbage.

A run has diverged when its training loss is not finite on ``NONFINITE_STEPS`` steps in a row, when the smoothed
loss rises above ``factor`` times its best value so far, or when more than ``max_skipped`` of the last ``WINDOW``
steps skipped their update (non-finite gradients; counted once ``MIN_STEPS`` steps are in the window, since fp16
loss scaling skips a few steps at the start by design). The trainer checks after every step, before it logs,
validates or checkpoints, so no checkpoint is written of a run found diverged, and nothing is exported.
"""

from __future__ import annotations

import math
from collections import deque

from genkit.errors import GenkitError

NONFINITE_STEPS = 3
WINDOW = 100
MIN_STEPS = 20
SMOOTHING = 0.9
WARMUP = 10  # steps before the smoothed loss counts as a best value


class DivergedRun(GenkitError):
    """Training stopped because the loss diverged (see :mod:`genkit.train.divergence`); nothing was exported."""

    exit_code = 1


class DivergenceGuard:
    """Feed it each step's loss and the scaler's running count of skipped steps; :meth:`check` returns why the
    run diverged, or ``None``."""

    def __init__(self, factor: float | None, max_skipped: float | None) -> None:
        self.factor, self.max_skipped = factor, max_skipped
        self.smoothed: float | None = None
        self.best = math.inf
        self.nonfinite = 0
        self.steps = 0
        self.skips: deque[int] = deque(maxlen=WINDOW)
        self._last_skipped: float | None = None

    def check(self, loss: float, skipped_total: float) -> str | None:
        self.steps += 1
        skipped = 0 if self._last_skipped is None else int(skipped_total - self._last_skipped)
        if self._last_skipped is None:
            skipped = int(skipped_total > 0)  # first step seen (also after a resume): count it as the total says
        self._last_skipped = skipped_total
        self.skips.append(1 if skipped > 0 else 0)
        if not math.isfinite(loss):
            self.nonfinite += 1
            if self.nonfinite >= NONFINITE_STEPS:
                return f"the training loss was {loss} on {self.nonfinite} steps in a row"
            return None
        self.nonfinite = 0
        self.smoothed = loss if self.smoothed is None else SMOOTHING * self.smoothed + (1 - SMOOTHING) * loss
        if self.steps > WARMUP:
            self.best = min(self.best, self.smoothed)
            if self.factor is not None and self.best > 0 and self.smoothed > self.factor * self.best:
                return (
                    f"the smoothed training loss rose to {self.smoothed:.4g}, {self.factor:g}x its best {self.best:.4g}"
                )
        if self.max_skipped is not None and len(self.skips) >= MIN_STEPS:
            share = sum(self.skips) / len(self.skips)
            if share > self.max_skipped:
                return (
                    f"{sum(self.skips)} of the last {len(self.skips)} steps skipped their update (non-finite gradients)"
                )
        return None
