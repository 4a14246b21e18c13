"""Stage 2: train the prior on [caption tokens ; image tokens from the frozen autoencoder].

Image tokens come from :mod:`genkit.train.stages.token_cache` (encoded once, argmax). Captions are tokenized per
batch: with BPE dropout for training (seeded by step and rank), without for validation. Loss:
``prior.loss(text_ids, text_lengths, image_ids)``.
"""

from __future__ import annotations

from typing import Any

from genkit.train.loop import StageJob, seed_everything
from genkit.train.stages import tokenizer as tokenizer_stage
from genkit.train.stages.common import (PipelineState, batch_seed, finished, role_digest, split_captions,
                                        stage_fingerprint, train_and_export)
from genkit.train.stages.token_cache import image_tokens


def autoencoder_context(state: PipelineState, needed_by: str) -> Any:
    """The frozen autoencoder from the export; extends ``state.context`` with its vocabulary and grid."""
    ae = state.component("autoencoder", needed_by)
    state.context = state.context.with_(image_vocab_size=int(ae.vocab_size), image_grid=tuple(ae.grid))
    return ae


def text_batch(tok: Any, captions: list[str], indices: list[int], split: str, seed: int, step: int, rank: int, device):
    texts = [captions[i] for i in indices]
    if split == "train":
        batch = tok.encode(texts, dropout=True, seed=batch_seed(seed, step, rank))
    else:
        batch = tok.encode(texts)
    return batch.ids.to(device), batch.lengths.to(device)


def run(state: PipelineState) -> dict[str, float]:
    settings = state.recipe.stages.prior
    params = state.params("prior", "prior")
    ae = autoencoder_context(state, "prior")
    tok = tokenizer_stage.load(state, "prior")
    context = state.context
    upstream = {"autoencoder": role_digest(state, "autoencoder"), "tokenizer": role_digest(state, "tokenizer")}
    fingerprint = stage_fingerprint(state, settings, upstream)
    done = finished(state, "prior", "prior", params, context, fingerprint)
    if done is not None:
        return done
    seed = state.seed(settings)
    stage_dir = state.stage_dir("prior")
    device, rank = state.env.device, state.env.rank
    tokens = {name: image_tokens(state, ae, name) for name in ("train", "validation")}
    captions = {name: split_captions(state.dataset.split(name)) for name in ("train", "validation")}
    del ae
    seed_everything(seed)
    model = state.build("prior", params, context)

    def batch(split: str, indices: list[int], step: int):
        ids, lengths = text_batch(tok, captions[split], indices, split, seed, step, rank, device)
        return ids, lengths, tokens[split][indices]

    def loss(model: Any, b, step: int):
        return model.loss(*b)

    job = StageJob("prior", model, settings, stage_dir, len(tokens["train"]), len(tokens["validation"]), batch,
                   loss, seed)
    return train_and_export(state, job, "prior", params, context, fingerprint)
