"""Stage 2: train the prior on [caption tokens ; image tokens from the frozen autoencoder].

Image tokens come from :mod:`genkit.stages.token_shards` (encoded once, argmax, in parallel over ranks): held
in memory when they fit, else streamed shard by shard through DataLoader workers. Captions are tokenized per
batch: with BPE dropout for training (seeded by step and rank), without for validation. Loss:
``prior.loss(text_ids, text_lengths, image_ids)``.
"""

from __future__ import annotations

from typing import Any

import torch

from genkit.data.loader import auto_workers
from genkit.roles import Autoencoder, Prior, Tokenizer
from genkit.stages import tokenizer as tokenizer_stage
from genkit.stages.common import (
    PipelineState,
    already_done,
    batch_seed,
    role_digest,
    stage_fingerprint,
    train_and_export,
)
from genkit.stages.token_shards import TokenParts, TokenTable, encode_split, fits_in_memory
from genkit.train.job import StageJob, seed_everything


def autoencoder_context(state: PipelineState, needed_by: str) -> Autoencoder:
    """The frozen autoencoder from the export; extends ``state.context`` with its vocabulary and grid."""
    ae: Autoencoder = state.component("autoencoder", needed_by)
    state.provide("autoencoder", ae)
    return ae


def text_batch(
    tok: Tokenizer, texts: list[str], split: str, seed: int, step: int, rank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and lengths of ``texts`` (BPE dropout for training, seeded by step and rank), on the CPU."""
    if split == "train":
        batch = tok.encode(texts, dropout=True, seed=batch_seed(seed, step, rank))
    else:
        batch = tok.encode(texts)
    return batch.ids, batch.lengths


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.prior
    params = state.params("prior", "prior")
    ae = autoencoder_context(state, "prior")
    tok = tokenizer_stage.load(state, "prior")
    context = state.context
    upstream = {"autoencoder": role_digest(state, "autoencoder"), "tokenizer": role_digest(state, "tokenizer")}
    fingerprint = stage_fingerprint(state, settings, upstream)
    done = already_done(state, "prior", "prior", params, context, fingerprint)
    if done is not None:
        return done
    seed = state.seed(settings)
    stage_dir = state.stage_dir("prior")
    rank = state.env.rank
    streamed = getattr(state.dataset, "streamed", False)
    workers = auto_workers(settings.workers, streamed)
    directory = encode_split(state, ae, "train", settings.views, settings.flip, workers)
    encode_split(state, ae, "validation", settings.views, settings.flip)
    grid = (int(ae.grid[0]), int(ae.grid[1]))
    del ae
    validation = TokenTable(directory, "validation")
    train = TokenTable(directory, "train") if fits_in_memory(directory, "train", grid) else None
    seed_everything(seed)
    model = state.build("prior", params, context)
    tables = {"validation": validation} if train is None else {"train": train, "validation": validation}

    def batch(split: str, indices: list[int], step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        table = tables[split]
        ids, lengths = text_batch(tok, [table.captions[i] for i in indices], split, seed, step, rank)
        grids = table.tokens[indices]
        if grids.shape[1] > 1 and split == "train":  # several views: one per visit, drawn from (seed, step, rank)
            generator = torch.Generator().manual_seed(batch_seed(seed, step, rank, salt=3))
            return (
                ids,
                lengths,
                grids[
                    torch.arange(len(indices)), torch.randint(0, grids.shape[1], (len(indices),), generator=generator)
                ],
            )
        return ids, lengths, grids[:, 0]

    def assemble(items: list[tuple[torch.Tensor, str]], step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, lengths = text_batch(tok, [caption for _, caption in items], "train", seed, step, rank)
        return ids, lengths, torch.stack([grid for grid, _ in items])

    def loss(
        model: Any, b: tuple[torch.Tensor, torch.Tensor, torch.Tensor], step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        prior: Prior = model
        return prior.loss(*b)

    job = StageJob(
        "prior",
        model,
        settings,
        stage_dir,
        len(train) if train is not None else 0,
        len(validation),
        batch,
        loss,
        seed,
        stream=None if train is not None else TokenParts(directory, "train"),
        assemble=assemble,
        in_memory=train is not None,
    )
    return train_and_export(state, job, "prior", params, context, fingerprint)
