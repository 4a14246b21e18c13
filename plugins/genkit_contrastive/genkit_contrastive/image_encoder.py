"""The image tower: a small residual conv net on pixels in ``[0, 1]``, globally average-pooled.

Only per-sample normalisation (GroupNorm), so an image's embedding never depends on the rest of its batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


class ConvBranch(nn.Module):
    """Residual branch ``GN -> GELU -> conv3x3 -> GN -> GELU -> conv3x3``; returns the update to add to x."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.gelu(self.norm2(self.conv1(F.gelu(self.norm1(x))))))


class ImageStage(nn.Module):
    """An entry conv from ``in_channels`` (with ``stride``) then ``blocks`` residual conv branches.

    A shard unit for FSDP2.
    """

    def __init__(self, in_channels: int, channels: int, blocks: int, groups: int, stride: int) -> None:
        super().__init__()
        self.entry = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1)
        self.branches = nn.ModuleList(ConvBranch(channels, groups) for _ in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry(x)
        for branch in self.branches:
            x = x + branch(x)
        return x


class ImageEncoder(nn.Module):
    """``float[B, 3, H, W]`` in ``[0, 1]`` -> ``float[B, widths[-1]]``.

    The first stage's entry conv has stride ``stem_stride``; every later stage halves the resolution.
    """

    def __init__(self, widths: tuple[int, ...], blocks: int, groups: int, stem_stride: int = 1) -> None:
        super().__init__()
        stages, previous = [], 3
        for index, width in enumerate(widths):
            stride = 2 if index > 0 else stem_stride
            stages.append(ImageStage(previous, width, blocks, groups, stride))
            previous = width
        self.stages = nn.ModuleList(stages)
        self.norm = nn.LayerNorm(widths[-1])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images * 2.0 - 1.0
        for stage in self.stages:
            x = stage(x)
        return self.norm(F.gelu(x).mean(dim=(2, 3)))

    def residual_blocks(self) -> list[nn.Module]:
        stages = cast("Iterable[ImageStage]", self.stages)  # an nn.ModuleList iterates as plain modules when typed
        return [branch for stage in stages for branch in stage.branches]
