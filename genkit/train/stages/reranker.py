"""Train the contrastive reranker on (caption, image) pairs of the dataset.

Loss: ``reranker.training_loss(text_ids, text_lengths, images)`` (in-batch InfoNCE); each validation adds
``validation_metrics`` (top-1 retrieval within a validation batch). Build context: image size and the tokenizer's
vocabulary and length.

With ``stages.reranker.hard_negatives: K`` each training caption also gets ``K`` decoded copies of its own image
with ``replaced_tokens`` tokens changed (:mod:`genkit.train.stages.hard_negatives`; tokens from the prior's token
cache of the frozen autoencoder), passed as ``training_loss(..., negatives=float[B, K, 3, H, W])``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch

from genkit.context import BuildContext
from genkit.errors import InputError
from genkit.train.loop import StageJob, seed_everything
from genkit.train.metrics import WorkProgress
from genkit.train.stages import tokenizer as tokenizer_stage
from genkit.train.stages.common import (PipelineState, batch_seed, finished, role_digest, split_captions,
                                        stack_images, stage_fingerprint, train_and_export)
from genkit.train.stages.hard_negatives import corrupt_tokens
from genkit.train.stages.prior import text_batch
from genkit.train.stages.token_cache import image_tokens

POOL_BYTES = 1 << 30  # hard negatives of the whole split are decoded once when they fit in this many bytes (uint8)
DECODE_BATCH = 256


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.reranker
    params = state.params("reranker", "reranker")
    tok = tokenizer_stage.load(state, "reranker")
    context = BuildContext(image_size=state.context.image_size, text_vocab_size=state.context.text_vocab_size,
                           text_length=state.context.text_length)
    upstream = {"tokenizer": role_digest(state, "tokenizer")}
    if settings.hard_negatives:
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
    seed_everything(seed)
    model = state.build("reranker", params, context)
    if settings.hard_negatives:
        check_takes_negatives(model, params.kind)
    negatives = near_misses(state, settings, seed, rank)

    def batch(split: str, indices: list[int], step: int):
        ids, lengths = text_batch(tok, captions[split], indices, split, seed, step, rank, device)
        images = stack_images(splits[split], indices, device)
        if split == "train" and negatives is not None:
            return ids, lengths, images, negatives(indices, step)
        return ids, lengths, images

    def loss(model: Any, b, step: int):
        if len(b) == 4:
            return model.training_loss(*b[:3], negatives=b[3])
        return model.training_loss(*b)

    def validate_extra(call: Callable[..., Any], step: int) -> dict[str, float]:
        n = min(settings.batch, len(splits["validation"]))
        b = batch("validation", list(range(n)), step)
        return call(lambda m, *args: m.validation_metrics(*args), *b)

    job = StageJob("reranker", model, settings, stage_dir, len(splits["train"]), len(splits["validation"]), batch,
                   loss, seed, validate_extra)
    return train_and_export(state, job, "reranker", params, context, fingerprint)


def check_takes_negatives(model: Any, kind: str) -> None:
    """Raise a one-line ``InputError`` when ``model.training_loss`` has no ``negatives`` argument."""
    if "negatives" not in inspect.signature(model.training_loss).parameters:
        raise InputError(f"stages.reranker.hard_negatives: reranker kind {kind!r} does not take hard negatives "
                         f"(its training_loss has no 'negatives' argument); set it to 0")


def near_misses(state: PipelineState, settings: Any, seed: int, rank: int) -> Callable[..., torch.Tensor] | None:
    """``(indices, step) -> float[B, K, 3, H, W]``: decoded corrupted copies of the training images, or None.

    When the copies of the whole training split fit in ``POOL_BYTES`` (as uint8), they are drawn and decoded once
    here (one decode per copy instead of one per copy and epoch); otherwise each batch decodes fresh copies.
    """
    if not settings.hard_negatives:
        return None
    autoencoder = state.component("autoencoder", "reranker (stages.reranker.hard_negatives > 0)")
    tokens = image_tokens(state, autoencoder, "train")
    copies, replaced, vocab = settings.hard_negatives, settings.replaced_tokens, int(autoencoder.vocab_size)

    @torch.no_grad()
    def decode(grids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        broken = corrupt_tokens(grids.cpu(), copies, replaced, vocab, generator).flatten(0, 1)
        images = torch.cat([autoencoder.decode(part.to(tokens.device)) for part in broken.split(DECODE_BATCH)])
        return images.float().clamp(0, 1).view(len(grids), copies, *images.shape[1:])

    size = state.context.image_size
    if len(tokens) * copies * 3 * size * size <= POOL_BYTES:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + 17)
        parts = []
        with WorkProgress("reranker: decoding hard negatives", state.progress) as advance:
            for part in tokens.split(DECODE_BATCH):
                parts.append((decode(part, generator) * 255).round().to(torch.uint8))
                if advance is not None:
                    advance(sum(len(p) for p in parts), len(tokens))
        pool = torch.cat(parts)
        return lambda indices, step: pool[torch.as_tensor(indices)].to(tokens.device).float() / 255

    def fresh(indices: list[int], step: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(batch_seed(seed, step, rank, salt=17))
        return decode(tokens[torch.as_tensor(indices, device=tokens.device)], generator)

    return fresh
