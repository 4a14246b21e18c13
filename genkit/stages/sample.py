"""The ``sample`` stage: draw, rerank and save images for ``stages.sample.prompts`` with the run's exports.

Writes ``RUN/sample/samples.png`` (a row per prompt, best first, score under each), the kept images beside it
in ``RUN/sample/samples/`` and ``RUN/sample/samples.json``. Runs on rank 0 only; it is cheap, so it is never
skipped as "finished" (a re-run redraws the same pixels for the same exports and seed).
"""

from __future__ import annotations

import sys
import time

from genkit.distributed.env import barrier
from genkit.sample import Pipeline, write_samples
from genkit.stages.common import PipelineState


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.sample
    if not settings.prompts:
        print("sample: stages.sample has no prompts; nothing to draw", file=sys.stderr)
        return {}
    metrics: dict[str, float] = {}
    if state.env.is_main:
        started = time.perf_counter()
        pipeline = Pipeline.from_export(state.export_dir, state.plugins)
        if settings.compile:
            pipeline.compile_prior("stages.sample.compile")
        seed = state.seed(settings)
        results = pipeline.sample(
            settings.prompts,
            candidates=settings.candidates,
            keep=settings.keep,
            temperature=settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            guidance=settings.guidance,
            seed=seed,
            warn=lambda message: print(f"sample: warning: {message}", file=sys.stderr),
        )
        grid = state.stage_dir("sample") / "samples.png"
        write_samples(results, grid, {**settings.model_dump(mode="json"), "seed": seed}, run_dir=state.run_dir)
        metrics = {"prompts": float(len(results)), "seconds": time.perf_counter() - started}
        print(
            f"sample: wrote {grid} ({len(results)} prompts, best {settings.keep} of {settings.candidates} each)",
            file=sys.stderr,
        )
    barrier(state.env)
    return metrics
