"""One trainer for every stage (loop, optimizers, schedules, EMA, checkpoints, metrics) and the stage pipeline."""

from genkit.train.job import InterruptedRun, StageJob, seed_everything
from genkit.train.loop import Trainer

__all__ = ["InterruptedRun", "StageJob", "Trainer", "seed_everything"]
