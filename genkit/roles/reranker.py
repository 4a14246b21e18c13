"""The ``reranker`` role: a contrastive text-image model that scores candidates."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Reranker(Protocol):
    """A dual encoder (``torch.nn.Module``) trained with symmetric InfoNCE.

    Contract:
    - ``score(text_ids, text_lengths, images)`` -> ``float[B]``: similarity of caption ``b`` and image ``b``
      (images ``float[B, 3, H, W]`` in ``[0, 1]``); higher = better match; deterministic, no gradient.
    - ``training_loss(text_ids, text_lengths, images)`` -> ``(loss, metrics)`` over the in-batch pairs.
      Optional: a keyword ``negatives`` (``float[B, K, 3, H, W]``, K extra images that caption ``b`` must score
      below image ``b``); the reranker stage passes it only with ``stages.reranker.hard_negatives > 0`` and says
      so when a kind's ``training_loss`` does not take it.
    - ``validation_metrics(text_ids, text_lengths, images)`` -> dict with top-1 retrieval accuracy
      (``top1_text_to_image``, ``top1_image_to_text``) within the batch.
    """

    def score(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor) -> torch.Tensor: ...

    def training_loss(
        self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]: ...

    def validation_metrics(
        self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor
    ) -> dict[str, float]: ...
