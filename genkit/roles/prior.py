"""The ``prior`` role: an autoregressive model over [text tokens ; image tokens] (stage 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Prior(Protocol):
    """A decoder-only transformer over one stream of text then image tokens (``torch.nn.Module``).

    Contract:
    - ``text_ids``: ``LongTensor[B, T]`` and ``text_lengths``: ``LongTensor[B]`` as a ``genkit.TokenBatch``
      gives them; the prior fills positions ``>= length`` with its own learned pad token per position.
      ``image_ids``: ``LongTensor[B, h, w]`` from the autoencoder.
    - ``loss(text_ids, text_lengths, image_ids)`` -> ``(loss, metrics)``: the weighted sum of text and image
      cross-entropy (each averaged over its own tokens); metrics include ``text_loss`` and ``image_loss`` (nats).
    - ``sample(text_ids, text_lengths, *, candidates, temperature, top_k, top_p, guidance, prime_ids, generator)``
      -> ``LongTensor[B * candidates, h, w]`` (candidates of caption ``b`` are rows ``b*candidates ...``).
      ``prime_ids`` (``LongTensor[B, r, w]``) fixes the first ``r`` rows (image completion). Uses a KV cache;
      reproducible for a given ``generator``; never modifies its inputs. ``progress(done, total)``, if given, is
      called after each decode step (``total`` = image positions to generate).
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
