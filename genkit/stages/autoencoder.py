"""Stage 1: train the image autoencoder on the dataset's images.

Loss: ``autoencoder.training_loss(images, step)``. Each validation averages ``validation_metrics(images)`` over
``validation_batches`` batches, measures ``codebook_usage`` and ``perplexity`` over all their codes, and writes
``RUN/autoencoder/reconstructions_stepNNNNNNNN.png``: a row of originals over their ``decode(encode(x))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from genkit.data.loader import images_to_uint8, uint8_to_images
from genkit.images import save_image_grid
from genkit.roles import Autoencoder, Example
from genkit.stages.common import (
    PipelineState,
    already_done,
    stack_images,
    stage_fingerprint,
    streamed_train,
    train_and_export,
)
from genkit.train.job import StageJob, seed_everything

GRID_IMAGES = 8


def codebook_metrics(counts: torch.Tensor) -> dict[str, float]:
    """Share of codes used and perplexity (exp entropy) of the code histogram ``counts`` over a whole split."""
    probs = counts / counts.sum().clamp(min=1)
    entropy = -(probs[probs > 0] * probs[probs > 0].log()).sum()
    return {"codebook_usage": float((counts > 0).double().mean()), "perplexity": float(entropy.exp())}


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.autoencoder
    params = state.params("autoencoder", "autoencoder")
    context = state.context
    fingerprint = stage_fingerprint(state, settings)
    done = already_done(state, "autoencoder", "autoencoder", params, context, fingerprint)
    if done is None:
        seed = state.seed(settings)
        seed_everything(seed)
        model = state.build("autoencoder", params, context)
        stage_dir = state.stage_dir("autoencoder")
        stream = streamed_train(state)
        train = None if stream is not None else state.dataset.split("train")
        validation = state.dataset.split("validation")
        device = state.env.device
        splits = {"train": train, "validation": validation}

        def batch(split: str, indices: list[int], step: int) -> torch.Tensor:
            return stack_images(splits[split], indices)

        def assemble(items: list[Example], step: int) -> torch.Tensor:
            return images_to_uint8([item.image for item in items])

        def loss(model: Any, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
            autoencoder: Autoencoder = model
            return autoencoder.training_loss(images, step)

        def validate_extra(call: Callable[..., Any], step: int) -> dict[str, float]:
            n = min(settings.batch * settings.validation_batches, len(validation))
            totals: dict[str, float] = {}
            counts = torch.zeros(model.vocab_size, dtype=torch.float64)
            for start in range(0, n, settings.batch):
                images = stack_images(validation, range(start, min(n, start + settings.batch)), device)
                for key, value in call(lambda m, x: m.validation_metrics(x), images).items():
                    totals[key] = totals.get(key, 0.0) + float(value) * images.shape[0]
                codes = call(lambda m, x: m.encode(x), images)
                counts += torch.bincount(codes.flatten().cpu(), minlength=model.vocab_size).double()
                if start == 0:
                    shown = images[:GRID_IMAGES]
            metrics = {key: value / n for key, value in totals.items()}
            metrics.update(codebook_metrics(counts))
            if "mse" in metrics:
                metrics["psnr"] = 10 * math.log10(1.0 / max(metrics["mse"], 1e-12))  # of the pooled MSE
            recon = call(lambda m, x: m.decode(m.encode(x)), shown).float().clamp(0, 1)
            if state.env.is_main:
                save_image_grid(
                    torch.cat([shown.float().cpu(), recon.cpu()]),
                    stage_dir / f"reconstructions_step{step:08d}.png",
                    nrow=len(shown),
                    scale=2,
                )
            return metrics

        job = StageJob(
            "autoencoder",
            model,
            settings,
            stage_dir,
            len(train) if train is not None else 0,
            len(validation),
            batch,
            loss,
            seed,
            validate_extra,
            stream=stream,
            assemble=assemble,
            prepare=uint8_to_images,
            in_memory=getattr(state.dataset, "in_memory", False),
        )
        metrics = train_and_export(state, job, "autoencoder", params, context, fingerprint)
        done = metrics
    ae = state.component("autoencoder", "autoencoder")
    state.provide("autoencoder", ae)
    return done
