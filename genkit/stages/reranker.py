"""Train the contrastive reranker on (caption, image) pairs of the dataset.

Loss: ``reranker.training_loss(text_ids, text_lengths, images)`` (in-batch InfoNCE); each validation adds
``validation_metrics`` (top-1 retrieval within a validation batch). Build context: image size and the tokenizer's
vocabulary and length.

With ``stages.reranker.hard_negatives: K`` each training caption also gets ``K`` decoded copies of its own image
with ``replaced_tokens`` tokens changed (:mod:`genkit.stages.hard_negatives`; tokens from the prior's token
shards of the frozen autoencoder, or encoded per batch for streamed data), passed as
``training_loss(..., negatives=float[B, K, 3, H, W])``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from genkit.data.loader import images_to_uint8, uint8_to_images
from genkit.errors import InputError
from genkit.plugins.context import BuildContext
from genkit.roles import Autoencoder, Example
from genkit.stages import tokenizer as tokenizer_stage
from genkit.stages.common import (
    PipelineState,
    already_done,
    batch_seed,
    role_digest,
    split_captions,
    stack_images,
    stage_fingerprint,
    streamed_train,
    train_and_export,
)
from genkit.stages.hard_negatives import corrupt_tokens
from genkit.stages.prior import text_batch
from genkit.stages.token_shards import TokenTable, encode_split
from genkit.train.job import StageJob, seed_everything, to_device
from genkit.train.metrics import WorkProgress

POOL_BYTES = 1 << 30  # hard negatives of the whole split are decoded once when they fit in this many bytes (uint8)
DECODE_BATCH = 256


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.reranker
    params = state.params("reranker", "reranker")
    tok = tokenizer_stage.load(state, "reranker")
    context = BuildContext(
        image_size=state.context.image_size,
        text_vocab_size=state.context.text_vocab_size,
        text_length=state.context.text_length,
    )
    upstream = {"tokenizer": role_digest(state, "tokenizer")}
    if settings.hard_negatives:
        upstream["autoencoder"] = role_digest(state, "autoencoder")
    fingerprint = stage_fingerprint(state, settings, upstream)
    done = already_done(state, "reranker", "reranker", params, context, fingerprint)
    if done is not None:
        return done
    seed = state.seed(settings)
    stage_dir = state.stage_dir("reranker")
    rank = state.env.rank
    stream = streamed_train(state)
    train = None if stream is not None else state.dataset.split("train")
    validation = state.dataset.split("validation")
    splits = {"validation": validation} if train is None else {"train": train, "validation": validation}
    captions = {name: split_captions(split) for name, split in splits.items()}
    seed_everything(seed)
    model = state.build("reranker", params, context)
    if settings.hard_negatives:
        check_takes_negatives(model, params.kind)
    negatives = near_misses(state, settings, seed, rank, streamed=stream is not None)

    def batch(split: str, indices: list[int], step: int) -> tuple[torch.Tensor, ...]:
        ids, lengths = text_batch(tok, [captions[split][i] for i in indices], split, seed, step, rank)
        images = stack_images(splits[split], indices)
        if split == "train" and negatives is not None:
            return ids, lengths, images, negatives.for_indices(indices)
        return ids, lengths, images

    def assemble(items: list[Example], step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, lengths = text_batch(tok, [item.caption for item in items], "train", seed, step, rank)
        return ids, lengths, images_to_uint8([item.image for item in items])

    def prepare(b: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return b[0], b[1], uint8_to_images(b[2])

    def loss(model: Any, b: tuple[torch.Tensor, ...], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        result: tuple[torch.Tensor, dict[str, float]]
        if negatives is not None and model.training:
            result = model.training_loss(*b[:3], negatives=negatives.resolve(b, step))
            return result
        result = model.training_loss(*b[:3])
        return result

    def validate_extra(call: Callable[..., Any], step: int) -> dict[str, float]:
        n = min(settings.batch, len(validation))
        b = to_device(batch("validation", list(range(n)), step), state.env.device)
        metrics: dict[str, float] = call(lambda m, *args: m.validation_metrics(*args), *b)
        return metrics

    job = StageJob(
        "reranker",
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
        prepare=prepare,
        in_memory=getattr(state.dataset, "in_memory", False),
    )
    return train_and_export(state, job, "reranker", params, context, fingerprint)


def check_takes_negatives(model: Any, kind: str) -> None:
    """Raise a one-line ``InputError`` when ``model.training_loss`` has no ``negatives`` argument."""
    if "negatives" not in inspect.signature(model.training_loss).parameters:
        raise InputError(
            f"stages.reranker.hard_negatives: reranker kind {kind!r} does not take hard negatives "
            f"(its training_loss has no 'negatives' argument); set it to 0"
        )


class NearMisses:
    """Hard negatives: decoded copies of training images with ``replaced_tokens`` tokens changed.

    Random-access data: when the copies of the whole training split fit in ``POOL_BYTES`` (as uint8) they are
    drawn and decoded once (one decode per copy instead of one per copy and epoch) and a batch carries its own
    (``for_indices``); otherwise a batch carries its indices and ``resolve`` decodes fresh copies of their tokens.
    Streamed data: ``resolve`` encodes the batch's images and decodes fresh copies.
    """

    def __init__(self, state: PipelineState, settings: Any, seed: int, rank: int, streamed: bool) -> None:
        self.autoencoder: Autoencoder = state.component("autoencoder", "reranker (stages.reranker.hard_negatives > 0)")
        self.copies, self.replaced = settings.hard_negatives, settings.replaced_tokens
        self.vocab, self.seed, self.rank, self.device = int(self.autoencoder.vocab_size), seed, rank, state.env.device
        self.tokens: torch.Tensor | None = None  # the training split's token grids (random-access data)
        self.pool: torch.Tensor | None = None  # their decoded negatives, when they fit in POOL_BYTES
        if streamed:
            return
        self.tokens = TokenTable(encode_split(state, self.autoencoder, "train"), "train").tokens[:, 0]
        size = state.context.image_size
        if len(self.tokens) * self.copies * 3 * size * size <= POOL_BYTES:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + 17)
            parts = []
            with WorkProgress("reranker: decoding hard negatives", state.progress) as advance:
                for part in torch.split(self.tokens, DECODE_BATCH):
                    parts.append((self.decode(part, generator) * 255).round().to(torch.uint8))
                    if advance is not None:
                        advance(sum(len(p) for p in parts), len(self.tokens))
            self.pool = torch.cat(parts)

    @torch.no_grad()
    def decode(self, grids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        broken = corrupt_tokens(grids.cpu(), self.copies, self.replaced, self.vocab, generator).flatten(0, 1)
        images = torch.cat(
            [self.autoencoder.decode(part.to(self.device)) for part in torch.split(broken, DECODE_BATCH)]
        )
        return images.float().clamp(0, 1).view(len(grids), self.copies, *images.shape[1:])

    def for_indices(self, indices: list[int]) -> torch.Tensor:
        """What a random-access batch carries: its negatives from the pool, or its indices."""
        if self.pool is not None:
            return self.pool[torch.as_tensor(indices)].float() / 255
        return torch.as_tensor(indices, dtype=torch.long)

    @torch.no_grad()
    def resolve(self, batch: tuple[torch.Tensor, ...], step: int) -> torch.Tensor:
        """The negatives of a training batch ``(ids, lengths, images[, negatives or indices])``."""
        if len(batch) == 4 and batch[3].is_floating_point():
            return batch[3]
        generator = torch.Generator().manual_seed(batch_seed(self.seed, step, self.rank, salt=17))
        if len(batch) == 4:
            assert self.tokens is not None  # a batch carries indices only for random-access data
            grids = self.tokens[batch[3].cpu()]
        else:
            grids = self.autoencoder.encode(batch[2].to(self.device)).cpu()
        return self.decode(grids, generator).to(batch[2].device)


def near_misses(state: PipelineState, settings: Any, seed: int, rank: int, streamed: bool = False) -> NearMisses | None:
    return NearMisses(state, settings, seed, rank, streamed) if settings.hard_negatives else None
