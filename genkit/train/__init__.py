"""One trainer for every stage (loop, optimizers, schedules, EMA, checkpoints, metrics) and the stage pipeline."""

from genkit.train.loop import InterruptedRun, StageJob, Trainer, seed_everything

__all__ = ["InterruptedRun", "StageJob", "Trainer", "seed_everything"]
