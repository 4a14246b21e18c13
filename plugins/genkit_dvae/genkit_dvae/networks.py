"""The encoder/decoder family of OpenAI's released dVAE, with the sizes as arguments.

Public module: genkit-vqvae builds its networks from it too, so that dvae vs vqvae differ only in the bottleneck.

Layout (module and parameter names are OpenAI's, so their checkpoints map key for key):

- ``Encoder``: ``blocks.input`` (7x7 conv), ``blocks.group_g.block_i`` resblocks, ``blocks.group_g.pool`` (2x2
  max-pool between groups, none after the last), ``blocks.output`` (relu, 1x1 conv to ``out_channels``).
- ``Decoder``: ``blocks.input`` (1x1 conv from ``in_channels``), groups of resblocks with ``blocks.group_g.upsample``
  (nearest x2) between groups, ``blocks.output`` (relu, 1x1 conv to ``out_channels``).
- A resblock is ``id_path(x) + res_path(x)``: ``id_path`` is the identity when the widths agree, else a 1x1 conv;
  ``res_path`` is relu-conv x4 with hidden width ``n_out // 4`` and multiplies its output by the post-gain
  ``1 / n_layers**2`` (``n_layers``: the resblocks of the network, groups x blocks per group in OpenAI's). Encoder
  kernels 3,3,3,1; decoder 1,3,3,3. The decoder may have a different count of resblocks in each group.
- Every conv is :class:`Conv2d` with parameters ``w`` ``[out, in, k, k]`` and ``b`` ``[out]``, ``w`` drawn from
  ``N(0, 1 / (in * k * k))``, ``b`` zero, "same" padding.

The downsampling factor is ``2 ** (groups - 1)``: 4 groups (OpenAI) map 256 px to 32x32, 3 groups 32 px to 8x8.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


class Conv2d(nn.Module):
    """A square "same" convolution with OpenAI's parameter names ``w`` and ``b`` and its initialisation."""

    def __init__(self, n_in: int, n_out: int, kw: int) -> None:
        super().__init__()
        if kw < 1 or kw % 2 == 0:
            raise ValueError(f"Conv2d: kernel width must be odd and >= 1, got {kw}")
        self.n_in, self.n_out, self.kw = n_in, n_out, kw
        self.w = nn.Parameter(torch.randn(n_out, n_in, kw, kw) / math.sqrt(n_in * kw * kw))
        self.b = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.w.to(x.dtype), self.b.to(x.dtype), padding=(self.kw - 1) // 2)


class ResidualPath(nn.Module):
    """relu-conv x4 (``conv_1``..``conv_4``), output multiplied by ``post_gain``. The residual branch of a block."""

    def __init__(self, n_in: int, n_out: int, kernels: Sequence[int], post_gain: float) -> None:
        super().__init__()
        n_hid = n_out // 4
        widths = [n_in, n_hid, n_hid, n_hid, n_out]
        for i, kw in enumerate(kernels):
            self.add_module(f"relu_{i + 1}", nn.ReLU())
            self.add_module(f"conv_{i + 1}", Conv2d(widths[i], widths[i + 1], kw))
        self.post_gain = post_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return self.post_gain * x


class ResBlock(nn.Module):
    """``id_path(x) + res_path(x)``; ``has_identity_path`` says whether ``id_path`` is the identity."""

    def __init__(self, n_in: int, n_out: int, n_layers: int, kernels: Sequence[int]) -> None:
        super().__init__()
        if n_out % 4:
            raise ValueError(f"ResBlock: output width {n_out} must be a multiple of 4")
        self.has_identity_path = n_in == n_out
        self.id_path = nn.Identity() if self.has_identity_path else Conv2d(n_in, n_out, 1)
        self.res_path = ResidualPath(n_in, n_out, kernels, 1.0 / n_layers**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.id_path(x) + self.res_path(x)


ENCODER_KERNELS = (3, 3, 3, 1)
DECODER_KERNELS = (1, 3, 3, 3)


def group_widths(hidden: int, multipliers: Sequence[int]) -> list[int]:
    return [hidden * m for m in multipliers]


def resblock_groups(
    n_in: int,
    widths: Sequence[int],
    blocks: Sequence[int],
    kernels: Sequence[int],
    between: tuple[str, Callable[[], nn.Module]],
) -> tuple[list[tuple[str, nn.Module]], int]:
    """OpenAI's ``group_g`` modules: ``block_1..block_n`` resblocks (``blocks[g]`` of them), then ``between`` (a
    named resampling layer) after every group but the last. Every branch's post-gain is ``1 / n_layers**2`` with
    ``n_layers`` the resblocks of all groups. Returns the named groups and the last width."""
    n_layers = sum(blocks)
    groups: list[tuple[str, nn.Module]] = []
    for g, (width, count) in enumerate(zip(widths, blocks, strict=True)):
        group: list[tuple[str, nn.Module]] = []
        for i in range(count):
            group.append((f"block_{i + 1}", ResBlock(n_in, width, n_layers, kernels)))
            n_in = width
        if g < len(widths) - 1:
            group.append((between[0], between[1]()))
        groups.append((f"group_{g + 1}", nn.Sequential(OrderedDict(group))))
    return groups, n_in


def per_group(blocks_per_group: int | Sequence[int], groups: int) -> list[int]:
    """Resblocks of each group: the same count in every group, or one count per group."""
    if isinstance(blocks_per_group, int):
        return [blocks_per_group] * groups
    if len(blocks_per_group) != groups:
        raise ValueError(f"{groups} groups need {groups} resblock counts, got {list(blocks_per_group)}")
    return list(blocks_per_group)


def run_channels_last(blocks: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``blocks(x)`` with the activations in channels-last layout inside (oneDNN's and cuDNN's fast path for
    convolutions: 1.3x faster training steps on CPU for the icon recipes), NCHW-contiguous in and out, so the
    layout is invisible to callers. Parameters keep their layout (contiguous, as safetensors saves them)."""
    return blocks(x.contiguous(memory_format=torch.channels_last)).contiguous()


def output_head(n_in: int, out_channels: int) -> nn.Sequential:
    """``blocks.output``: relu then a 1x1 conv."""
    return nn.Sequential(OrderedDict([("relu", nn.ReLU()), ("conv", Conv2d(n_in, out_channels, 1))]))


class Encoder(nn.Module):
    """Images ``[B, in_channels, H, W]`` -> ``[B, out_channels, H/f, W/f]`` with ``f = 2 ** (groups - 1)``."""

    def __init__(
        self,
        *,
        hidden: int,
        multipliers: Sequence[int],
        blocks_per_group: int,
        out_channels: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        widths = group_widths(hidden, multipliers)
        layers: list[tuple[str, nn.Module]] = [("input", Conv2d(in_channels, widths[0], 7))]
        groups, n_in = resblock_groups(
            widths[0],
            widths,
            per_group(blocks_per_group, len(widths)),
            ENCODER_KERNELS,
            ("pool", lambda: nn.MaxPool2d(kernel_size=2)),
        )
        layers += [*groups, ("output", output_head(n_in, out_channels))]
        self.blocks = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_channels_last(self.blocks, x)

    def resblocks(self) -> list[ResBlock]:
        return [m for m in self.modules() if isinstance(m, ResBlock)]


class Decoder(nn.Module):
    """``[B, in_channels, h, w]`` -> ``[B, out_channels, h*f, w*f]``; groups run from the widest to the narrowest.
    ``blocks_per_group``: one count for every group, or one per group in the decoder's order (lowest resolution
    first)."""

    def __init__(
        self,
        *,
        hidden: int,
        multipliers: Sequence[int],
        blocks_per_group: int | Sequence[int],
        in_channels: int,
        init_width: int,
        out_channels: int,
    ) -> None:
        super().__init__()
        widths = group_widths(hidden, multipliers)[::-1]
        layers: list[tuple[str, nn.Module]] = [("input", Conv2d(in_channels, init_width, 1))]
        groups, n_in = resblock_groups(
            init_width,
            widths,
            per_group(blocks_per_group, len(widths)),
            DECODER_KERNELS,
            ("upsample", lambda: nn.Upsample(scale_factor=2, mode="nearest")),
        )
        layers += [*groups, ("output", output_head(n_in, out_channels))]
        self.blocks = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_channels_last(self.blocks, x)

    def resblocks(self) -> list[ResBlock]:
        return [m for m in self.modules() if isinstance(m, ResBlock)]

    def input_dtype(self) -> torch.dtype:
        """The dtype of ``blocks.input``'s weight (what one-hot codes are cast to)."""
        return cast(Conv2d, self.blocks.input).w.dtype


class EncoderDecoderStructure:
    """What an autoencoder built from an ``encoder`` and a ``decoder`` of this module declares to the engine.

    Mixed into ``nn.Module`` autoencoders that set ``self.encoder``, ``self.decoder``, ``self.vocab_size`` and
    have ``encode(images)``: code histograms, FSDP2 shard units (every resblock) and the residual branches for
    per-resblock fp16 scaling (only blocks whose shortcut is the identity, where ``x + branch(x)`` holds exactly).
    """

    # What the autoencoder provides (annotations only: nn.Module registers the networks when they are assigned).
    encoder: Encoder
    decoder: Decoder
    vocab_size: int
    encode: Callable[[torch.Tensor], torch.Tensor]

    @torch.no_grad()
    def code_counts(self, images: torch.Tensor) -> torch.Tensor:
        """``LongTensor[vocab_size]``: how often each code is chosen for ``images`` (sum over batches)."""
        from genkit_dvae.common import code_counts

        return code_counts(self.encode(images), self.vocab_size)

    def shard_units(self) -> list[nn.Module]:
        return [*self.encoder.resblocks(), *self.decoder.resblocks()]

    def residual_blocks(self) -> list[nn.Module]:
        return [b.res_path for b in self.shard_units() if isinstance(b, ResBlock) and b.has_identity_path]

    def all_residual_paths(self) -> list[ResidualPath]:
        """Every resblock's branch, identity shortcut or not."""
        return [b.res_path for b in self.shard_units() if isinstance(b, ResBlock)]
