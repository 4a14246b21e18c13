"""The ``prior`` role: a generative model of image tokens given caption tokens, over [text tokens ; image tokens]
(stage 2): autoregressive (raster order) or masked-token (iterative parallel decoding)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Prior(Protocol):
    """A transformer over caption tokens and image tokens (``torch.nn.Module``) that samples image tokens given a
    caption. Two families satisfy it: autoregressive priors (one stream of text then image tokens in raster order,
    e.g. ``sparse_transformer``) and masked-token priors (bidirectional, e.g. ``maskgit``).

    Contract:
    - ``text_ids``: ``LongTensor[B, T]`` and ``text_lengths``: ``LongTensor[B]`` as a ``genkit.TokenBatch``
      gives them; the prior fills positions ``>= length`` with its own learned pad token per position.
      ``image_ids``: ``LongTensor[B, h, w]`` from the autoencoder.
    - ``loss(text_ids, text_lengths, image_ids)`` -> ``(loss, metrics)``: the training objective (a scalar);
      metrics include ``text_loss`` and ``image_loss`` (nats, floats). An autoregressive prior's loss is the
      weighted sum of text and image cross-entropy, each averaged over its own tokens; a masked-token prior's is
      the cross-entropy of the image tokens it hid, and it reports ``text_loss`` 0.0 when it does not model the
      caption. A loss may draw from torch's global RNG in training mode (caption dropout, masks); in eval mode
      the same inputs give the same loss.
    - ``sample(text_ids, text_lengths, *, candidates, temperature, top_k, top_p, guidance, prime_ids, generator,
      progress)`` -> ``LongTensor[B * candidates, h, w]`` of ids in ``[0, image_vocab_size)`` (candidates of
      caption ``b`` are rows ``b*candidates ...``). ``temperature``, ``top_k`` and ``top_p`` shape the
      distribution each image token is drawn from; ``guidance`` g > 0 is classifier-free guidance against the
      all-pads caption. ``prime_ids`` (``LongTensor[B, r, w]``) fixes the first ``r`` rows (image completion);
      they are returned unchanged. How tokens are decoded is the prior's own: raster order, one position per
      forward step with a KV cache (autoregressive), or a fixed number of parallel steps that each predict every
      still-masked token and keep the most confident (masked-token). Reproducible for a given ``generator``;
      never modifies its inputs. ``progress(done, total)``, if given, is called after each decode step, with
      ``total`` = image positions to generate and ``done`` = those decided so far (``total`` after the last).
    - Optional inpainting: a prior that can condition on arbitrary given positions accepts the keyword
      ``known=(ids, mask)`` (``LongTensor[B, h, w]``, ``BoolTensor[B, h, w]``): the positions where ``mask`` is
      true are given and returned bit for bit, the others are generated. A prior that cannot (raster-order
      decoding) leaves the keyword out; callers pass it only when asked to inpaint.
    - ``residual_blocks()`` -> the residual branches (attention and MLP separately) whose outputs are added to
      the residual stream; ``shard_units()`` -> the transformer blocks, for FSDP2.
    """

    def loss(
        self, text_ids: torch.Tensor, text_lengths: torch.Tensor, image_ids: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]: ...

    def sample(
        self,
        text_ids: torch.Tensor,
        text_lengths: torch.Tensor,
        *,
        candidates: int = 1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        guidance: float = 0.0,
        prime_ids: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor: ...

    def residual_blocks(self) -> list[torch.nn.Module]: ...

    def shard_units(self) -> list[torch.nn.Module]: ...
