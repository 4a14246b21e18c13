"""Train the tokenizer on the training captions (streamed: image members are not even read) (before the prior and
the reranker, which need its ids).

Runs on rank 0 (other ranks wait), exports ``RUN/export/tokenizer``. Its build context holds only the image size,
so it does not depend on the autoencoder.
"""

from __future__ import annotations

import itertools

from genkit.distributed.env import barrier
from genkit.plugins.context import BuildContext
from genkit.roles import Tokenizer
from genkit.stages.common import PipelineState, already_done, export, stage_fingerprint

MAX_CAPTIONS = 5_000_000  # a corpus's first captions are plenty for the BPE merges (streamed, images never read)
MEASURED_CAPTIONS = 100_000  # captions whose token counts give the stage's metrics


def tokenizer_context(state: PipelineState) -> BuildContext:
    return BuildContext(image_size=state.context.image_size)


def run(state: PipelineState) -> dict[str, float]:
    params = state.params("tokenizer", "prior")
    context = tokenizer_context(state)
    fingerprint = stage_fingerprint(state, {"captions": "train"})
    done = already_done(state, "tokenizer", "tokenizer", params, context, fingerprint)
    if done is None:
        metrics: dict[str, float] = {}
        if state.env.is_main:
            state.stage_dir("tokenizer")
            tokenizer = state.build("tokenizer", params, context)
            captions = list(itertools.islice(state.dataset.captions("train"), MAX_CAPTIONS))
            tokenizer.train(captions)
            cut_before = tokenizer.truncated
            captions = captions[:MEASURED_CAPTIONS]
            batch = tokenizer.encode(captions)
            metrics = {
                "vocab_size": float(tokenizer.vocab_size),
                "captions": float(len(captions)),
                "mean_tokens": float(batch.lengths.float().mean()),
                "truncated": float(tokenizer.truncated - cut_before) / max(1, len(captions)),
            }
            export(state, "tokenizer", "tokenizer", params, context, None, tokenizer, metrics, fingerprint)
        else:
            barrier(state.env)
        done = already_done(state, "tokenizer", "tokenizer", params, context, fingerprint) or metrics
    return done


def load(state: PipelineState, needed_by: str) -> Tokenizer:
    """The trained tokenizer from the export; extends ``state.context`` with its vocabulary and length."""
    tok: Tokenizer = state.component("tokenizer", needed_by)
    state.provide("tokenizer", tok)
    return tok
