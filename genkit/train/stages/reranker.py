"""Train the contrastive reranker on (caption, image) pairs of the dataset.

Loss: ``reranker.training_loss(text_ids, text_lengths, images)`` (in-batch InfoNCE); each validation adds
``validation_metrics`` (top-1 retrieval within a validation batch). Build context: image size and the tokenizer's
vocabulary and length.
"""

from __future__ import annotations

from typing import Any, Callable

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
    fingerprint = stage_fingerprint(state, settings, {"tokenizer": role_digest(state, "tokenizer")})
    done = finished(state, "reranker", "reranker", params, context, fingerprint)
    if done is not None:
        return done
    seed = state.seed(settings)
    stage_dir = state.stage_dir("reranker")
    device, rank = state.env.device, state.env.rank
    splits = {name: state.dataset.split(name) for name in ("train", "validation")}
    captions = {name: split_captions(split) for name, split in splits.items()}
    seed_everything(seed)
    model = state.build("reranker", params, context)

    def batch(split: str, indices: list[int], step: int):
        ids, lengths = text_batch(tok, captions[split], indices, split, seed, step, rank, device)
        return ids, lengths, stack_images(splits[split], indices, device)

    def loss(model: Any, b, step: int):
        return model.training_loss(*b)

    def validate_extra(call: Callable[..., Any], step: int) -> dict[str, float]:
        n = min(settings.batch, len(splits["validation"]))
        b = batch("validation", list(range(n)), step)
        return call(lambda m, *args: m.validation_metrics(*args), *b)

    job = StageJob("reranker", model, settings, stage_dir, len(splits["train"]), len(splits["validation"]), batch,
                   loss, seed, validate_extra)
    return train_and_export(state, job, "reranker", params, context, fingerprint)
