"""The ``contrastive`` reranker: text and image towers, projections to a shared space, symmetric InfoNCE."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import genkit
from genkit.helpers import gather_rows
from genkit_contrastive.image_encoder import ImageEncoder
from genkit_contrastive.params import ContrastiveParams
from genkit_contrastive.text_encoder import TextEncoder


class ContrastiveReranker(nn.Module):
    """A CLIP-style dual encoder satisfying ``genkit.Reranker``.

    - ``embed_texts(ids, lengths)`` / ``embed_images(images)`` -> unit vectors ``float[B, embed_dim]``.
    - ``score(ids, lengths, images)`` -> ``float[B]``: cosine similarity of caption ``b`` and image ``b`` (times
      the learned ``1/T`` when ``score_scaled``); deterministic, batch-independent, no gradient.
    - ``training_loss(ids, lengths, images, negatives=None)`` -> symmetric InfoNCE over the in-batch pairs, with
      metrics; ``negatives [B, K, 3, H, W]`` add K hard negatives per caption (text->image direction). Under
      torchrun the batch is the global one: every rank's captions and images are gathered (with gradient), and
      each rank's loss is over its own rows, so the mean over ranks is one process's loss on the global batch.
    - ``validation_metrics(ids, lengths, images)`` -> ``top1_text_to_image``, ``top1_image_to_text``, ``loss``.
    - ``residual_blocks()``: text attention and MLP branches and image conv branches (each returns the update the
      caller adds); ``shard_units()``: text blocks and image stages.
    """

    def __init__(self, params: ContrastiveParams, *, text_vocab_size: int, text_length: int, image_size: int) -> None:
        super().__init__()
        self.params = params
        self.text_vocab_size = int(text_vocab_size)
        self.text_length = int(text_length)
        self.image_size = int(image_size)
        self.text = TextEncoder(
            self.text_vocab_size, self.text_length, params.width, params.depth, params.heads, params.mlp_ratio
        )
        self.image = ImageEncoder(tuple(params.image_widths), params.image_blocks, params.groups, params.stem_stride)
        self.text_projection = nn.Linear(params.width, params.embed_dim, bias=False)
        self.image_projection = nn.Linear(params.image_widths[-1], params.embed_dim, bias=False)
        # shape [1], not a scalar: FSDP2 shards parameters along dim 0 and rejects 0-d ones
        self.logit_scale = nn.Parameter(torch.tensor([params.init_logit_scale]), requires_grad=params.learn_temperature)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "logit_scale"  # checkpoints written before it had shape [1] hold a scalar
        if key in state_dict and state_dict[key].dim() == 0:
            state_dict[key] = state_dict[key].reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- checks ---------------------------------------------------------------------------------------------
    def _check_text(self, ids: torch.Tensor, lengths: torch.Tensor) -> None:
        if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise genkit.InputError(
                f"contrastive reranker: text ids must be an integer [B, T] tensor, got {tuple(ids.shape)} {ids.dtype}"
            )
        if ids.shape[1] > self.text_length:
            raise genkit.InputError(
                f"contrastive reranker: text ids have length {ids.shape[1]} > text_length {self.text_length} "
                "it was built for"
            )
        if lengths.shape != (ids.shape[0],):
            raise genkit.InputError(
                f"contrastive reranker: lengths must have shape [{ids.shape[0]}], got {tuple(lengths.shape)}"
            )
        if ids.numel() and bool(((lengths < 0) | (lengths > ids.shape[1])).any()):
            raise genkit.InputError(f"contrastive reranker: lengths must lie in [0, {ids.shape[1]}]")
        real = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        used = ids[real]
        if used.numel() and bool(((used < 0) | (used >= self.text_vocab_size)).any()):
            raise genkit.InputError(
                f"contrastive reranker: text ids must lie in [0, text_vocab_size={self.text_vocab_size})"
            )

    def _check_images(self, images: torch.Tensor, batch: int | None = None) -> None:
        if images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise genkit.InputError(
                f"contrastive reranker: images must be float [B, 3, H, W], got {tuple(images.shape)} {images.dtype}"
            )
        if batch is not None and images.shape[0] != batch:
            raise genkit.InputError(f"contrastive reranker: {batch} captions but {images.shape[0]} images")

    # -- embeddings -----------------------------------------------------------------------------------------
    def embed_texts(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Unit-norm caption embeddings ``float[B, embed_dim]`` (padding positions ignored)."""
        self._check_text(ids, lengths)
        return F.normalize(self.text_projection(self.text(ids.long(), lengths.long())), dim=-1)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings ``float[B, embed_dim]`` of images in ``[0, 1]``."""
        self._check_images(images)
        return F.normalize(self.image_projection(self.image(images)), dim=-1)

    def scale(self) -> torch.Tensor:
        """The learned inverse temperature ``1/T``, clamped to ``[1, max_logit_scale]``."""
        return self.logit_scale.clamp(0.0, math.log(self.params.max_logit_scale)).exp().squeeze(0)

    def similarity(self, ids: torch.Tensor, lengths: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Cosine similarities ``float[B_text, B_image]`` of every caption with every image (with gradient)."""
        return self.embed_texts(ids, lengths) @ self.embed_images(images).T

    # -- the Reranker role ----------------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        self._check_images(images, text_ids.shape[0])
        text = self.embed_texts(text_ids, text_lengths)
        image = self.embed_images(images)
        cosine = (text * image).sum(dim=-1)
        return cosine * self.scale() if self.params.score_scaled else cosine

    def training_loss(
        self,
        text_ids: torch.Tensor,
        text_lengths: torch.Tensor,
        images: torch.Tensor,
        negatives: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Symmetric InfoNCE; ``negatives float[B, K, 3, H, W]`` (optional) are extra images that caption ``b``
        must score below its own image (text->image direction only)."""
        self._check_images(images, text_ids.shape[0])
        text = self.embed_texts(text_ids, text_lengths)
        image = self.embed_images(images)
        (all_text, first), (all_image, _) = gather_rows(text), gather_rows(image)  # the global batch under torchrun
        text_to_image, image_to_text = text @ all_image.T, image @ all_text.T  # own rows, global columns
        target = torch.arange(first, first + text.shape[0], device=text.device)
        scale = self.scale()
        hard_cosine = None
        metrics: dict[str, float] = {}
        if negatives is not None:
            if negatives.dim() != 5 or negatives.shape[0] != images.shape[0] or negatives.shape[2:] != images.shape[1:]:
                raise genkit.InputError(
                    f"contrastive reranker: negatives must be [B, K, 3, H, W] with B and the image "
                    f"shape of images {tuple(images.shape)}, got {tuple(negatives.shape)}"
                )
            hard = self.embed_images(negatives.flatten(0, 1)).view(*negatives.shape[:2], -1)
            hard_cosine = (text[:, None, :] * hard).sum(-1)  # [B, K]
            positive = (text * image).sum(-1)
            metrics["beats_hard_negatives"] = float((positive[:, None] > hard_cosine).float().mean().detach())
        loss = self._infonce(
            text_to_image * scale, image_to_text * scale, target, None if hard_cosine is None else hard_cosine * scale
        )
        metrics.update({"loss": float(loss.detach()), "temperature": float(1.0 / scale.detach())})
        metrics.update(_retrieval(text_to_image.detach(), image_to_text.detach(), target))
        return loss, metrics

    @torch.no_grad()
    def validation_metrics(
        self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor
    ) -> dict[str, float]:
        self._check_images(images, text_ids.shape[0])
        cosine = self.similarity(text_ids, text_lengths, images)
        target = torch.arange(cosine.shape[0], device=cosine.device)
        metrics = {"loss": float(self._infonce(cosine * self.scale(), cosine.T * self.scale(), target))}
        metrics.update(_retrieval(cosine, cosine.T, target))
        return metrics

    @staticmethod
    def _infonce(
        text_to_image: torch.Tensor,
        image_to_text: torch.Tensor,
        target: torch.Tensor,
        hard_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Symmetric InfoNCE: row ``i`` of ``text_to_image`` (captions x images) and of ``image_to_text`` (images x
        captions) has its match in column ``target[i]``; ``hard_logits [B, K]`` are extra columns of the
        text->image direction only."""
        if hard_logits is not None:
            text_to_image = torch.cat([text_to_image, hard_logits], dim=1)
        return 0.5 * (F.cross_entropy(text_to_image, target) + F.cross_entropy(image_to_text, target))

    # -- engine hooks ---------------------------------------------------------------------------------------
    def residual_blocks(self) -> list[nn.Module]:
        """Residual branches: ``forward(x, ...)`` returns the update the caller adds to ``x``."""
        return [*self.text.residual_blocks(), *self.image.residual_blocks()]

    def shard_units(self) -> list[nn.Module]:
        """Modules to ``fully_shard`` one by one before the root: text blocks and image stages."""
        return [*self.text.blocks, *self.image.stages]


def _retrieval(text_to_image: torch.Tensor, image_to_text: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Top-1 retrieval accuracy both ways (see :meth:`ContrastiveReranker._infonce` for the layout)."""
    return {
        "top1_text_to_image": float((text_to_image.argmax(dim=1) == target).float().mean()),
        "top1_image_to_text": float((image_to_text.argmax(dim=1) == target).float().mean()),
    }
