"""Train the tokenizer on the training captions (before the prior and the reranker, which need its ids).

Runs on rank 0 (other ranks wait), exports ``RUN/export/tokenizer``. Its build context holds only the image size,
so it does not depend on the autoencoder.
"""

from __future__ import annotations

from genkit.context import BuildContext
from genkit.distributed.env import barrier
from genkit.train.stages.common import PipelineState, export, finished, split_captions, stage_fingerprint


def tokenizer_context(state: PipelineState) -> BuildContext:
    return BuildContext(image_size=state.context.image_size)


def run(state: PipelineState) -> dict[str, float]:
    params = state.params("tokenizer", "prior")
    context = tokenizer_context(state)
    fingerprint = stage_fingerprint(state, {"captions": "train"})
    done = finished(state, "tokenizer", "tokenizer", params, context, fingerprint)
    if done is None:
        metrics: dict[str, float] = {}
        if state.env.is_main:
            state.stage_dir("tokenizer")
            tokenizer = state.build("tokenizer", params, context)
            captions = split_captions(state.dataset.split("train"))
            tokenizer.train(captions)
            cut_before = tokenizer.truncated
            batch = tokenizer.encode(captions)
            metrics = {"vocab_size": float(tokenizer.vocab_size), "captions": float(len(captions)),
                       "mean_tokens": float(batch.lengths.float().mean()),
                       "truncated": float(tokenizer.truncated - cut_before) / max(1, len(captions))}
            export(state, "tokenizer", "tokenizer", params, context, None, tokenizer, metrics, fingerprint)
        else:
            barrier(state.env)
        done = finished(state, "tokenizer", "tokenizer", params, context, fingerprint) or metrics
    return done


def load(state: PipelineState, needed_by: str):
    """The trained tokenizer from the export; extends ``state.context`` with its vocabulary and length."""
    tok = state.component("tokenizer", needed_by)
    state.context = state.context.with_(text_vocab_size=int(tok.vocab_size), text_length=int(tok.max_length))
    return tok
