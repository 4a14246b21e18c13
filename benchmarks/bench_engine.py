"""Engine overhead, as ratios measured in one process (JSON lines on stdout).

1. ``engine_step_overhead``: seconds per step of genkit's Trainer vs a bare PyTorch loop (AdamW, same tiny model,
   same batch size), ratio > 1 = engine slower.
2. ``per_resblock_vs_dynamic``: fp16 step time with the paper's per-resblock scaling vs torch's GradScaler.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # for toys.py, the test suite's toy models

from toys import ToyMLP  # noqa: E402

from genkit.stages.settings import TrainStage  # noqa: E402
from genkit.train import StageJob, Trainer, seed_everything  # noqa: E402

STEPS, BATCH, WIDTH, DEPTH = 150, 64, 128, 4


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 4, generator=g)
    return x, x.sum(1).sin()


def bare_loop(x, y) -> float:
    seed_everything(0)
    model = ToyMLP(WIDTH, DEPTH)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    perm = torch.randperm(len(x))
    start = time.perf_counter()
    for step in range(STEPS):
        idx = perm[(step * BATCH) % len(x) :][:BATCH]
        opt.zero_grad(set_to_none=True)
        loss = ((model(x[idx]) - y[idx]) ** 2).mean()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / STEPS


def engine_loop(x, y, **settings) -> float:
    seed_everything(0)
    model = ToyMLP(WIDTH, DEPTH)
    with tempfile.TemporaryDirectory() as tmp:
        s = TrainStage(
            steps=STEPS,
            batch=BATCH,
            lr=1e-3,
            schedule="constant",
            validate_every=10**6,
            checkpoint_every=10**6,
            log_every=10,
            **settings,
        )
        job = StageJob(
            "bench",
            model,
            s,
            Path(tmp),
            len(x),
            len(x),
            lambda split, idx, step: (x[idx], y[idx]),
            lambda m, b, step: (((m(b[0]) - b[1]) ** 2).mean(), {}),
            seed=0,
        )
        trainer = Trainer(job, progress=False)
        trainer.validate = lambda: {"loss": math.nan}  # time the steps only
        start = time.perf_counter()
        for _ in range(STEPS):
            trainer.train_step()
        return (time.perf_counter() - start) / STEPS


def main() -> None:
    torch.set_num_threads(1)
    x, y = _data()
    bare_loop(x, y), engine_loop(x, y)  # warm-up
    bare = min(bare_loop(x, y) for _ in range(3))
    engine = min(engine_loop(x, y) for _ in range(3))
    print(
        json.dumps(
            {
                "bench": "engine_step_overhead",
                "model": f"ToyMLP width {WIDTH} depth {DEPTH}",
                "batch": BATCH,
                "bare_s_per_step": round(bare, 6),
                "engine_s_per_step": round(engine, 6),
                "ratio": round(engine / bare, 3),
            }
        )
    )
    dynamic = min(engine_loop(x, y, precision="fp16", loss_scaling="dynamic") for _ in range(3))
    per_block = min(engine_loop(x, y, precision="fp16", loss_scaling="per_resblock") for _ in range(3))
    print(
        json.dumps(
            {
                "bench": "per_resblock_vs_dynamic",
                "device": "cpu",
                "residual_branches": 2 * DEPTH,
                "dynamic_s_per_step": round(dynamic, 6),
                "per_resblock_s_per_step": round(per_block, 6),
                "ratio": round(per_block / dynamic, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
