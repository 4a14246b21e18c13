"""Helpers genkit offers to plugins, in one public place: ``from genkit.helpers import ...``.

- Attention: :class:`AttentionLayout` (the sparse row/column/conv pattern of a layer), ``select_attention``
  (the backend the ``genkit_select_attention`` hook picks), ``decode_attention``, ``image_mask``,
  ``paper_schedule``, ``LAYER_TYPES``.
- Collectives that are no-ops outside ``torch.distributed``: ``gather_rows``, ``sum_over_ranks``,
  ``from_rank_zero``.
- ``gumbel_like``: Gumbel noise drawn like a tensor.
"""

from genkit.attention import (
    LAYER_TYPES,
    AttentionLayout,
    decode_attention,
    image_mask,
    paper_schedule,
    select_attention,
)
from genkit.helpers.collectives import from_rank_zero, gather_rows, sum_over_ranks
from genkit.helpers.conv_autoencoder import ConvAutoencoderParams, resolve_multipliers
from genkit.helpers.gumbel import gumbel_like

__all__ = [
    "LAYER_TYPES",
    "AttentionLayout",
    "ConvAutoencoderParams",
    "decode_attention",
    "from_rank_zero",
    "gather_rows",
    "gumbel_like",
    "image_mask",
    "paper_schedule",
    "resolve_multipliers",
    "select_attention",
    "sum_over_ranks",
]
