"""A regression job on the toys' ToyMLP for the trainer's tests (also run as a script by the SIGTERM test)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for toys.py (also when run as a script)

from toys import ToyMLP  # noqa: E402

from genkit.stages.settings import TrainStage  # noqa: E402
from genkit.train import StageJob, Trainer, seed_everything  # noqa: E402

SETTINGS = dict(
    steps=12,
    batch=8,
    lr=1e-2,
    warmup=2,
    schedule="cosine",
    grad_clip=1.0,
    accumulate=2,
    ema=0.9,
    weight_decay=0.01,
    validate_every=4,
    checkpoint_every=100,
    log_every=1,
    validation_batches=1,
)


def make_job(stage_dir: Path, *, sleep: float = 0.0, noise: bool = True, **overrides) -> StageJob:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(48, 4, generator=generator)
    y = x.sum(1).sin()

    def batch(split, indices, step):
        if sleep:
            import time

            time.sleep(sleep)
        if not noise:
            return x[indices], y[indices]
        jitter = torch.randn(len(indices), 4) * 0.01  # consumes the global RNG: resume must restore it
        return x[indices] + jitter, y[indices]

    def loss(model, b, step):
        value = ((model(b[0]) - b[1]) ** 2).mean()
        return value, {"abs": float((model(b[0]) - b[1]).abs().mean().detach())}

    seed_everything(0)
    model = ToyMLP()
    return StageJob("toy", model, TrainStage(**{**SETTINGS, **overrides}), Path(stage_dir), 48, 48, batch, loss, seed=0)


if __name__ == "__main__":  # python engine_toy.py STAGE_DIR: train slowly until signalled
    torch.set_num_threads(1)
    trainer = Trainer(make_job(Path(sys.argv[1]), sleep=0.05, steps=400), progress=False)
    trainer.fit(resume=True)
