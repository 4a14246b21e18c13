"""SparseTransformerPrior: DALL-E's decoder-only transformer over one stream [text (T) ; image (h*w)].

The target stream ``y`` is the caption (positions ``>= length`` replaced by the learned pad of that position: id
``text_vocab + t``) followed by the image tokens in raster order. Stream position ``p in [0, T + h*w)`` reads
``y[p-1]`` (a learned start token at ``p = 0``) and predicts ``y[p]``: text positions over the text vocabulary
(with its pads), image positions over the image vocabulary. No padding mask: pads are ordinary tokens.

Each input carries the embedding of its own place: the start token and text token ``j`` the text positions
``0`` and ``j + 1``, image token ``n`` the row and column of cell ``n``. Attention is defined on the inputs:
the layers' :class:`~genkit.attention.AttentionLayout` has ``T + 1`` text positions (start + caption), so every
image token attends to every text token in every layer, and an image token's row, column or conv neighbourhood
is that of its own cell. The last image token is never read, so the stream is the layout's first
``layout.length - 1`` positions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from genkit.helpers import AttentionLayout, CaptionPads, checkpointed_blocks, gpt2_init, run_block
from genkit_sparse_transformer.blocks import Block, KVCache
from genkit_sparse_transformer.decode_linear import decode_step_linear
from genkit_sparse_transformer.params import SparseTransformerParams


class SparseTransformerPrior(CaptionPads, nn.Module):
    """The ``prior`` role (see ``genkit.roles.Prior``); built by ``build_prior``."""

    def __init__(
        self,
        params: SparseTransformerParams,
        text_vocab_size: int,
        text_length: int,
        image_vocab_size: int,
        image_grid: tuple[int, int],
    ) -> None:
        super().__init__()
        self.params = params
        self.text_vocab_size, self.text_length = int(text_vocab_size), int(text_length)
        self.image_vocab_size, self.grid = int(image_vocab_size), (int(image_grid[0]), int(image_grid[1]))
        h, w = self.grid
        width, heads, head_dim = params.width, params.heads, params.resolved_head_dim
        self.layouts = [  # the text keys are the start token and the T caption tokens
            AttentionLayout(self.text_length + 1, self.grid, kind, params.conv_kernel) for kind in params.layer_types()
        ]
        # text table: real tokens, then one pad per position, then the start token
        self.text_embedding = nn.Embedding(self.text_vocab_size + self.text_length + 1, width)
        self.text_position = nn.Embedding(self.text_length + 1, width)  # 0: start, j + 1: caption token j
        self.image_embedding = nn.Embedding(self.image_vocab_size, width)
        self.image_row = nn.Embedding(h, width)
        self.image_column = nn.Embedding(w, width)
        hidden = int(round(params.mlp_ratio * width))
        approximate = "tanh" if params.activation == "gelu_tanh" else "none"
        self.blocks = nn.ModuleList(
            Block(width, heads, head_dim, hidden, layout, approximate) for layout in self.layouts
        )
        self.final_norm = nn.LayerNorm(width)
        self.checkpointed = checkpointed_blocks(params.depth, params.checkpoint_activations)
        self.text_head = nn.Linear(width, self.text_vocab_size + self.text_length)
        self.image_head = nn.Linear(width, self.image_vocab_size)
        self.reset_parameters()

    # -- structure -------------------------------------------------------------------------------------
    @property
    def sequence_length(self) -> int:
        return self.text_length + self.grid[0] * self.grid[1]

    def residual_blocks(self) -> list[nn.Module]:
        """Attention and MLP branches, in order: ``x = x + branch(x)``."""
        return [branch for block in self._typed_blocks() for branch in (block.attention, block.mlp)]

    def shard_units(self) -> list[nn.Module]:
        return list(self.blocks)

    def _typed_blocks(self) -> Iterable[Block]:
        """``self.blocks`` as what it holds (an ``nn.ModuleList`` iterates as plain modules for a type checker)."""
        return cast("Iterable[Block]", self.blocks)

    def reset_parameters(self) -> None:
        outputs = [layer for block in self._typed_blocks() for layer in (block.attention.out, block.mlp.proj)]
        gpt2_init(self, self.params.init_std, outputs, len(self.blocks))

    # -- inputs ----------------------------------------------------------------------------------------
    def position_embeddings(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """``[stop - start, width]`` for stream positions ``[start, stop)`` (default: all): the place of the token
        each position reads, a text position (``p <= T``) or the row + column of image cell ``p - T - 1``. Only
        the rows asked for are computed (one per decode step)."""
        t, (_, w) = self.text_length + 1, self.grid  # t: positions that read the start token or a text token
        stop = self.sequence_length if stop is None else stop
        if stop == start + 1 and start >= t:  # one image position: a decode step
            row, column = divmod(start - t, w)
            return (self.image_row.weight[row] + self.image_column.weight[column])[None]
        parts = []
        if start < t:
            parts.append(self.text_position.weight[start : min(stop, t)])
        if stop > t:
            cells = torch.arange(max(start, t) - t, stop - t, device=self.image_row.weight.device)
            parts.append(self.image_row.weight[cells // w] + self.image_column.weight[cells % w])
        return torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]

    def embed(self, text_full: torch.Tensor, image_flat: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Input vectors of stream positions ``[start, stop)``: embedding of ``y[p-1]`` plus its place.

        ``text_full [B, T]`` (pads filled); ``image_flat [B, >= stop - T - 1]`` (only the tokens read are needed).
        """
        t = self.text_length
        batch = text_full.shape[0]
        parts = []
        if start == 0:
            bos = self.text_embedding.weight[self.text_vocab_size + t]
            parts.append(bos.expand(batch, 1, -1))
        lo, hi = max(start - 1, 0), stop - 1  # source tokens y[lo:hi]
        if lo < t and hi > lo:
            parts.append(self.text_embedding(text_full[:, lo : min(hi, t)]))
        if hi > t:
            parts.append(self.image_embedding(image_flat[:, max(lo, t) - t : hi - t]))
        tokens = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return tokens + self.position_embeddings(start, stop)

    # -- computation -----------------------------------------------------------------------------------
    def hidden(
        self,
        text_full: torch.Tensor,
        image_flat: torch.Tensor,
        start: int = 0,
        stop: int | None = None,
        caches: list[KVCache] | None = None,
    ) -> torch.Tensor:
        """Final-norm hidden states of positions ``[start, stop)`` (with ``caches``, earlier positions come from
        the caches, which this call extends). In training, the blocks ``params.checkpoint_activations`` names
        recompute their activations in the backward pass (never with caches)."""
        stop = self.sequence_length if stop is None else stop
        x = self.embed(text_full, image_flat, start, stop)
        self._select_backends(x)
        for i, (block, checkpoint) in enumerate(zip(self.blocks, self.checkpointed, strict=True)):
            cache = caches[i] if caches is not None else None
            x = run_block(block, x, start, cache, checkpoint=checkpoint and cache is None)
        return self.final_norm(x)

    def _select_backends(self, x: torch.Tensor) -> None:
        """Choose every layer's attention backend for ``x``'s device and compute dtype here, before the blocks run:
        a compiled block then never traces the choice (it would compile again once the choice is cached)."""
        if torch.compiler.is_compiling():
            return
        device = x.device
        autocast = torch.is_autocast_enabled(device.type)
        dtype = torch.get_autocast_dtype(device.type) if autocast else x.dtype
        for block in self._typed_blocks():
            block.attention.backend(device, dtype)

    def image_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Image-vocabulary logits of final hidden states ``[..., width]`` (the decode step's head)."""
        return decode_step_linear(self.image_head, hidden)

    def forward(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, image_ids: torch.Tensor):
        """``(text_logits [B, T, text_vocab + T], image_logits [B, h*w, image_vocab])`` for the whole stream."""
        h = self.hidden(self.fill_text(text_ids, text_lengths), image_ids.flatten(1))
        t = self.text_length
        return self.text_head(h[:, :t]), self.image_head(h[:, t:])

    def loss(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, image_ids: torch.Tensor):
        """``text_weight`` x text CE + ``image_weight`` x image CE, each averaged over its own tokens.

        In training mode, each caption is replaced by all pads with probability ``caption_dropout``.
        """
        h, w = self.grid
        if tuple(image_ids.shape[1:]) != (h, w):
            raise ValueError(f"image_ids has shape {tuple(image_ids.shape)}; this prior expects [B, {h}, {w}]")
        lengths = text_lengths
        if self.training and self.params.caption_dropout > 0:
            drop = torch.rand(lengths.shape, device=lengths.device) < self.params.caption_dropout
            lengths = torch.where(drop, torch.zeros_like(lengths), lengths)
        text_full = self.fill_text(text_ids, lengths)
        image_flat = image_ids.flatten(1)
        hidden = self.hidden(text_full, image_flat)
        t = self.text_length
        image_logits = self.image_head(hidden[:, t:])
        image_loss = F.cross_entropy(image_logits.float().flatten(0, 1), image_flat.flatten())
        if t > 0:
            text_logits = self.text_head(hidden[:, :t])
            text_loss = F.cross_entropy(text_logits.float().flatten(0, 1), text_full.flatten())
        else:
            text_loss = image_loss.new_zeros(())
        loss = self.params.text_weight * text_loss + self.params.image_weight * image_loss
        metrics = {"text_loss": float(text_loss.detach()), "image_loss": float(image_loss.detach())}
        return loss, metrics

    def new_caches(self, batch: int, device: torch.device, dtype: torch.dtype) -> list[KVCache]:
        p = self.params
        return [KVCache(batch, p.heads, self.sequence_length, p.resolved_head_dim, device, dtype) for _ in self.blocks]

    def sample(self, text_ids, text_lengths, **options) -> torch.Tensor:
        """See ``genkit.roles.Prior.sample`` and :func:`genkit_sparse_transformer.sampling.sample`."""
        from genkit_sparse_transformer.sampling import sample

        return sample(self, text_ids, text_lengths, **options)
