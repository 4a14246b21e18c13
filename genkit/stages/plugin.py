"""Built-in plugin: declares genkit's pipeline stages (``genkit_register_stages``), in the order they run.

autoencoder -> tokenizer (implied: it has no ``stages.tokenizer`` section and trains when the recipe has a
``tokenizer:`` section and a planned stage needs it) -> prior -> reranker -> sample.
"""

from __future__ import annotations

from typing import Any

from genkit.plugins.hookspecs import hookimpl
from genkit.plugins.specs import StageSpec
from genkit.stages import autoencoder, prior, reranker, sample, tokenizer
from genkit.stages.settings import PriorStage, RerankerStage, SampleStage, TrainStage

STAGE_SPECS = (
    StageSpec(
        "autoencoder",
        autoencoder.run,
        "Train the image autoencoder (stage 1).",
        settings=TrainStage,
        trains="autoencoder",
    ),
    StageSpec(
        "tokenizer",
        tokenizer.run,
        "Train the tokenizer on the training captions (implied: before the first stage that needs it).",
        trains="tokenizer",
    ),
    StageSpec(
        "prior",
        prior.run,
        "Train the prior on frozen image tokens (stage 2).",
        settings=PriorStage,
        trains="prior",
        needs=("autoencoder", "tokenizer"),
    ),
    StageSpec(
        "reranker",
        reranker.run,
        "Train the contrastive reranker.",
        settings=RerankerStage,
        trains="reranker",
        needs=("tokenizer",),
        needs_when=lambda settings: ("autoencoder",) if settings.hard_negatives else (),
    ),
    StageSpec(
        "sample",
        sample.run,
        "Draw, rerank and save samples for the prompts (reads every export of the run).",
        settings=SampleStage,
    ),
)


@hookimpl
def genkit_register_stages(register: Any) -> None:
    for stage in STAGE_SPECS:
        register(stage)
