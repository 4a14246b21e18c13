"""Train the contrastive reranker on (caption, image) pairs of the dataset.

Loss: ``reranker.training_loss(text_ids, text_lengths, images)`` (in-batch InfoNCE); each validation adds
``validation_metrics`` (top-1 retrieval within a validation batch, real images). Build context: image size and the
tokenizer's vocabulary and length. With ``stages.reranker.reconstructed: p`` each training image is replaced, with
probability ``p`` drawn per step, by the run's autoencoder reconstruction of it (computed once per image, kept as
``uint8``), so that the reranker learns to judge the kind of images it will rerank.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from genkit.context import BuildContext
from genkit.train.loop import StageJob, seed_everything
from genkit.train.stages import tokenizer as tokenizer_stage
from genkit.train.stages.common import (PipelineState, finished, role_digest, split_captions, stack_images,
                                        stage_fingerprint, train_and_export)
from genkit.train.stages.prior import text_batch


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.reranker
    params = state.params("reranker", "reranker")
    tok = tokenizer_stage.load(state, "reranker")
    context = BuildContext(image_size=state.context.image_size, text_vocab_size=state.context.text_vocab_size,
                           text_length=state.context.text_length)
    upstream = {"tokenizer": role_digest(state, "tokenizer")}
    if settings.reconstructed > 0:
        upstream["autoencoder"] = role_digest(state, "autoencoder")
    fingerprint = stage_fingerprint(state, settings, upstream)
    done = finished(state, "reranker", "reranker", params, context, fingerprint)
    if done is not None:
        return done
    seed = state.seed(settings)
    stage_dir = state.stage_dir("reranker")
    device, rank = state.env.device, state.env.rank
    splits = {name: state.dataset.split(name) for name in ("train", "validation")}
    captions = {name: split_captions(split) for name, split in splits.items()}
    reconstructions = Reconstructions(state.component("autoencoder", "reranker")) if settings.reconstructed > 0 else None
    seed_everything(seed)
    model = state.build("reranker", params, context)

    def batch(split: str, indices: list[int], step: int):
        ids, lengths = text_batch(tok, captions[split], indices, split, seed, step, rank, device)
        images = stack_images(splits[split], indices, device)
        if split == "train" and reconstructions is not None:
            draw = torch.Generator().manual_seed((seed * 1_000_003 + step) * 1009 + rank)
            chosen = (torch.rand(len(indices), generator=draw) < settings.reconstructed).nonzero().flatten().tolist()
            if chosen:
                images[chosen] = reconstructions.get([indices[i] for i in chosen], images[chosen])
        return ids, lengths, images

    def loss(model: Any, b, step: int):
        return model.training_loss(*b)

    def validate_extra(call: Callable[..., Any], step: int) -> dict[str, float]:
        n = min(settings.batch, len(splits["validation"]))
        b = batch("validation", list(range(n)), step)
        return call(lambda m, *args: m.validation_metrics(*args), *b)

    job = StageJob("reranker", model, settings, stage_dir, len(splits["train"]), len(splits["validation"]), batch,
                   loss, seed, validate_extra)
    return train_and_export(state, job, "reranker", params, context, fingerprint)


class Reconstructions:
    """``decode(encode(x))`` of training images by index, each computed once and kept as ``uint8``."""

    def __init__(self, autoencoder: Any) -> None:
        self.autoencoder = autoencoder
        self.kept: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def get(self, indices: list[int], images: torch.Tensor) -> torch.Tensor:
        """Reconstructions of ``images`` (``float[N, 3, H, W]``, items ``indices`` of the train split)."""
        missing = [k for k, index in enumerate(indices) if index not in self.kept]
        if missing:
            fresh = self.autoencoder.decode(self.autoencoder.encode(images[missing])).float().clamp(0, 1)
            for k, image in zip(missing, fresh):
                self.kept[indices[k]] = image.mul(255).round().to(torch.uint8).cpu()
        return torch.stack([self.kept[i] for i in indices]).to(images.device, torch.float32).div(255)
