"""Stage 1: train the image autoencoder on the dataset's images.

Loss: ``autoencoder.training_loss(images, step)``. Each validation adds ``validation_metrics(images)`` and writes
``RUN/autoencoder/reconstructions_stepNNNNNNNN.png``: a row of originals over their ``decode(encode(x))``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from genkit.images import save_image_grid
from genkit.train.loop import StageJob, Trainer, seed_everything
from genkit.train.stages.common import PipelineState, export, finished, stack_images, stage_fingerprint

GRID_IMAGES = 8


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.autoencoder
    params = state.params("autoencoder", "autoencoder")
    context = state.context
    fingerprint = stage_fingerprint(state, settings)
    done = finished(state, "autoencoder", "autoencoder", params, context, fingerprint)
    if done is None:
        seed = state.seed(settings)
        seed_everything(seed)
        model = state.build("autoencoder", params, context)
        stage_dir = state.stage_dir("autoencoder")
        train, validation = state.dataset.split("train"), state.dataset.split("validation")
        device = state.env.device
        splits = {"train": train, "validation": validation}

        def batch(split: str, indices: list[int], step: int) -> torch.Tensor:
            return stack_images(splits[split], indices, device)

        def loss(model: Any, images: torch.Tensor, step: int):
            return model.training_loss(images, step)

        def validate_extra(call: Callable[..., Any], step: int) -> dict[str, float]:
            n = min(settings.batch, len(validation))
            images = stack_images(validation, range(n), device)
            metrics = call(lambda m, x: m.validation_metrics(x), images)
            shown = images[:GRID_IMAGES]
            recon = call(lambda m, x: m.decode(m.encode(x)), shown).float().clamp(0, 1)
            if state.env.is_main:
                save_image_grid(torch.cat([shown.float().cpu(), recon.cpu()]),
                                stage_dir / f"reconstructions_step{step:08d}.png", nrow=len(shown), scale=2)
            return metrics

        job = StageJob("autoencoder", model, settings, stage_dir, len(train), len(validation), batch, loss, seed,
                       validate_extra)
        trainer = Trainer(job, state.env, state.plugins, progress=state.progress)
        metrics = trainer.fit(resume=state.resume)
        export(state, "autoencoder", "autoencoder", params, context, trainer.export_state(), None, metrics, fingerprint)
        if state.env.is_main:
            state.plugins.hook.genkit_train_end(stage="autoencoder", run_dir=stage_dir, metrics=metrics,
                                                export_dir=state.export_dir)
        done = metrics
    ae = state.component("autoencoder", "autoencoder")
    state.context = state.context.with_(image_vocab_size=int(ae.vocab_size), image_grid=tuple(ae.grid))
    return done
