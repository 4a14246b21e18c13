"""MaskGITPrior: a bidirectional transformer over [text (T) ; image (h*w)] that predicts hidden image tokens.

The caption's positions ``>= length`` hold the learned pad of that position (id ``text_vocab + t``), as in the
sparse transformer; each text token carries its position's embedding. Image tokens are ids in
``[0, image_vocab)`` or ``mask_id = image_vocab`` (a learned [MASK] token), each plus the embedding of its row and
of its column. Every token attends to every token (no mask). One head over the image vocabulary reads the image
positions; the text is only conditioning (the prior does not model it: ``text_loss`` is 0).

Training (``loss``) hides a cosine-scheduled fraction of each image's tokens and takes the cross-entropy on the
hidden ones; sampling (:mod:`genkit_maskgit.sampling`) starts from an all-[MASK] image and fills it in
``params.steps`` parallel passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from genkit.helpers import CaptionPads, checkpointed_blocks, gpt2_init, run_block
from genkit_maskgit.blocks import Block
from genkit_maskgit.params import MaskGITParams
from genkit_maskgit.schedule import training_mask

EVAL_MASK_SEED = 0  # eval-mode masks come from a generator seeded with this: validation is deterministic


class MaskGITPrior(CaptionPads, nn.Module):
    """The ``prior`` role (see ``genkit.roles.Prior``); built by ``build_prior``."""

    def __init__(
        self,
        params: MaskGITParams,
        text_vocab_size: int,
        text_length: int,
        image_vocab_size: int,
        image_grid: tuple[int, int],
    ) -> None:
        super().__init__()
        self.params = params
        self.text_vocab_size, self.text_length = int(text_vocab_size), int(text_length)
        self.image_vocab_size, self.grid = int(image_vocab_size), (int(image_grid[0]), int(image_grid[1]))
        self.mask_id = self.image_vocab_size
        h, w = self.grid
        width = params.width
        self.text_embedding = nn.Embedding(self.text_vocab_size + self.text_length, width)  # tokens, then pads
        self.text_position = nn.Embedding(self.text_length, width)
        self.image_embedding = nn.Embedding(self.image_vocab_size + 1, width)  # tokens, then [MASK]
        self.image_row = nn.Embedding(h, width)
        self.image_column = nn.Embedding(w, width)
        hidden = int(round(params.mlp_ratio * width))
        self.blocks = nn.ModuleList(
            Block(width, params.heads, hidden, params.dropout, self.grid, params.conv_kernel, params.relative_bias)
            for _ in range(params.depth)
        )
        self.final_norm = nn.LayerNorm(width)
        self.checkpointed = checkpointed_blocks(params.depth, params.checkpoint_activations)
        self.image_head = nn.Linear(width, self.image_vocab_size)
        self.reset_parameters()

    # -- structure -------------------------------------------------------------------------------------
    @property
    def image_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def passes_per_image(self) -> int:
        """Forward passes of the transformer to sample an image: one per decoding step (``params.steps``), whatever
        the grid (fewer only when the schedule decides every token early: fewer tokens than steps); with guidance
        each pass carries the conditional and null captions in one batch."""
        return self.params.steps

    def residual_blocks(self) -> list[nn.Module]:
        """Attention and MLP branches, in order: ``x = x + branch(x)``."""
        return [branch for block in self._typed_blocks() for branch in (block.attention, block.mlp)]

    def shard_units(self) -> list[nn.Module]:
        return list(self.blocks)

    def _typed_blocks(self) -> Iterable[Block]:
        return cast("Iterable[Block]", self.blocks)

    def reset_parameters(self) -> None:
        outputs = [layer for block in self._typed_blocks() for layer in (block.attention.out, block.mlp.proj)]
        gpt2_init(self, self.params.init_std, outputs, len(self.blocks))
        for block in self._typed_blocks():
            if block.attention.bias_table is not None:
                nn.init.zeros_(block.attention.bias_table)  # no locality preference until training finds one

    # -- inputs ----------------------------------------------------------------------------------------
    def embed(self, text_full: torch.Tensor, image_flat: torch.Tensor) -> torch.Tensor:
        """``[B, T + h*w, width]``: text tokens (pads filled) + their positions, then image tokens (``mask_id`` for
        hidden ones) + their rows and columns."""
        w = self.grid[1]
        cells = torch.arange(self.image_tokens, device=image_flat.device)
        text = self.text_embedding(text_full) + self.text_position.weight
        places = self.image_row.weight[cells // w] + self.image_column.weight[cells % w]
        image = self.image_embedding(image_flat) + places
        return torch.cat([text, image], dim=1)

    # -- computation -----------------------------------------------------------------------------------
    def hidden(self, text_full: torch.Tensor, image_flat: torch.Tensor) -> torch.Tensor:
        """Final-norm hidden states of the image positions, ``[B, h*w, width]``. In training, the blocks
        ``params.checkpoint_activations`` names recompute their activations in the backward pass."""
        x = self.embed(text_full, image_flat)
        for block, checkpoint in zip(self.blocks, self.checkpointed, strict=True):
            x = run_block(block, x, checkpoint=checkpoint)
        return self.final_norm(x[:, self.text_length :])

    def forward(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, image_ids: torch.Tensor) -> torch.Tensor:
        """Image logits ``[B, h*w, image_vocab]`` at every image position; ``image_ids [B, h, w]`` may hold
        ``mask_id`` (the positions to predict)."""
        return self.image_head(self.hidden(self.fill_text(text_ids, text_lengths), image_ids.flatten(1)))

    def loss(
        self,
        text_ids: torch.Tensor,
        text_lengths: torch.Tensor,
        image_ids: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy on the hidden image tokens (nats): averaged over each image's hidden tokens, then over the
        images (so the loss of a batch split across ranks is the mean of theirs).

        ``mask`` (``Bool[B, h, w]``, at least one per image) says which tokens to hide; by default a fraction
        ``cos(pi/2 * u)``, ``u ~ U(0, 1)`` per image (:func:`~genkit_maskgit.schedule.training_mask`), drawn from
        torch's global RNG in training mode and from a generator seeded with :data:`EVAL_MASK_SEED` in eval mode
        (validation losses are comparable). In training mode each caption is replaced by all pads with
        probability ``caption_dropout``. Metrics: ``image_loss``, ``text_loss`` (0.0: this prior does not model
        the caption) and ``mask_ratio`` (the mean fraction of hidden tokens).
        """
        h, w = self.grid
        if tuple(image_ids.shape[1:]) != (h, w):
            raise ValueError(f"image_ids has shape {tuple(image_ids.shape)}; this prior expects [B, {h}, {w}]")
        batch, device = image_ids.shape[0], image_ids.device
        if mask is None:
            generator = None
            if not self.training:
                generator = torch.Generator(device=device).manual_seed(EVAL_MASK_SEED)
            hide = training_mask(batch, self.image_tokens, device, generator)
        else:
            if mask.shape != image_ids.shape or mask.dtype != torch.bool:
                raise ValueError(f"mask must be Bool{list(image_ids.shape)}, got {mask.dtype}{list(mask.shape)}")
            hide = mask.flatten(1).to(device)
            if not bool(hide.any(dim=1).all()):
                raise ValueError("mask hides no token of some image (each needs at least one)")
        lengths = text_lengths
        if self.training and self.params.caption_dropout > 0:
            drop = torch.rand(lengths.shape, device=lengths.device) < self.params.caption_dropout
            lengths = torch.where(drop, torch.zeros_like(lengths), lengths)
        image_flat = image_ids.flatten(1)
        hidden = self.hidden(self.fill_text(text_ids, lengths), image_flat.masked_fill(hide, self.mask_id))
        logits = self.image_head(hidden[hide])  # [hidden tokens of the batch, image_vocab]
        per_token = F.cross_entropy(logits.float(), image_flat[hide], reduction="none")
        rows = hide.nonzero()[:, 0]
        counts = hide.sum(dim=1)
        per_image = per_token.new_zeros(batch).index_add(0, rows, per_token) / counts
        image_loss = per_image.mean()
        metrics = {
            "image_loss": float(image_loss.detach()),
            "text_loss": 0.0,
            "mask_ratio": float(counts.float().mean()) / self.image_tokens,
        }
        return image_loss, metrics

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
        known: tuple[torch.Tensor, torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
        progress: Callable[[int, int], None] | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        """See ``genkit.roles.Prior.sample`` and :func:`genkit_maskgit.sampling.sample` (``known``: inpainting;
        ``steps``: decoding steps instead of ``params.steps``)."""
        from genkit_maskgit.sampling import sample

        return sample(
            self,
            text_ids,
            text_lengths,
            candidates=candidates,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            guidance=guidance,
            prime_ids=prime_ids,
            known=known,
            generator=generator,
            progress=progress,
            steps=steps,
        )
