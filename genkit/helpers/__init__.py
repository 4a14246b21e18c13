"""Helpers genkit offers to plugins, in one public place: ``from genkit.helpers import ...``.

- Attention: :class:`AttentionLayout` (the sparse row/column/conv pattern of a layer), ``select_attention``
  (the backend the ``genkit_select_attention`` hook picks), ``decode_attention``, ``image_mask``,
  ``paper_schedule``, ``LAYER_TYPES``.
- Collectives that are no-ops outside ``torch.distributed``: ``gather_rows``, ``sum_over_ranks``,
  ``from_rank_zero``.
- ``gumbel_like``: Gumbel noise drawn like a tensor.
- ``TENSOR_GLOBALS``: what a restricted unpickler of released checkpoints may call (tensors, plain containers).
- Activation checkpointing: ``CheckpointActivations`` (the type of a ``checkpoint_activations`` parameter),
  ``checkpointed_blocks``, ``run_block``, ``checkpoint_interval``, ``checkpoint_description``.
- Autoencoders: ``ConvAutoencoderParams`` (the parameters a convolutional encoder/decoder with a codebook shares,
  and their size rules), ``resolve_multipliers`` and ``resolve_decoder_blocks``.
- Transformer priors: ``CaptionPads`` (a learned pad per caption position, the null caption of guidance),
  ``filter_logits`` (temperature, top-k, top-p), ``gpt2_init``, ``prior_sizes`` (what a prior's build reads from
  its context).
"""

from genkit.attention import (
    LAYER_TYPES,
    AttentionLayout,
    decode_attention,
    image_mask,
    paper_schedule,
    select_attention,
)
from genkit.helpers.checkpointing import (
    CheckpointActivations,
    checkpoint_description,
    checkpoint_interval,
    checkpointed_blocks,
    run_block,
)
from genkit.helpers.collectives import from_rank_zero, gather_rows, sum_over_ranks
from genkit.helpers.conv_autoencoder import ConvAutoencoderParams, resolve_decoder_blocks, resolve_multipliers
from genkit.helpers.gumbel import gumbel_like
from genkit.helpers.restricted_pickle import TENSOR_GLOBALS
from genkit.helpers.transformer_prior import CaptionPads, filter_logits, gpt2_init, prior_sizes

__all__ = [
    "LAYER_TYPES",
    "TENSOR_GLOBALS",
    "AttentionLayout",
    "CaptionPads",
    "CheckpointActivations",
    "ConvAutoencoderParams",
    "checkpoint_description",
    "checkpoint_interval",
    "checkpointed_blocks",
    "decode_attention",
    "filter_logits",
    "from_rank_zero",
    "gather_rows",
    "gpt2_init",
    "gumbel_like",
    "image_mask",
    "paper_schedule",
    "prior_sizes",
    "resolve_decoder_blocks",
    "resolve_multipliers",
    "run_block",
    "select_attention",
    "sum_over_ranks",
]
