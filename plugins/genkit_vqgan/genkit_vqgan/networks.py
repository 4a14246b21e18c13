"""taming-transformers' encoder and decoder (``taming/modules/diffusionmodules/model.py``), re-typed.

Same modules, attribute names and forward math as taming, so that ``state_dict()`` keys match a taming
checkpoint key for key (``encoder.down.0.block.1.norm1.weight``, ``decoder.up.2.upsample.conv.bias``, ...):

- ``ResnetBlock``: GroupNorm(32, eps 1e-6) -> swish -> 3x3 conv, twice (dropout before the second conv), plus the
  input (through a 1x1 ``nin_shortcut`` when the width changes). No timestep embedding (taming's ``temb_ch`` is 0).
- ``AttnBlock``: single-head self-attention over the ``h*w`` positions with 1x1 ``q``/``k``/``v``/``proj_out``.
- ``Downsample``: pad right/bottom by one, 3x3 conv stride 2. ``Upsample``: nearest x2, 3x3 conv.
- ``Encoder``: ``conv_in``, per resolution ``down[i].block``/``attn`` (+ ``downsample`` except the last), ``mid``
  (block, attn, block), ``norm_out`` -> swish -> ``conv_out`` to ``z_channels`` (``double_z`` false).
- ``Decoder``: ``conv_in`` from ``z_channels``, ``mid``, ``up[i]`` from the lowest resolution (``num_res_blocks + 1``
  blocks each, ``upsample`` except at level 0), ``norm_out`` -> swish -> ``conv_out`` to ``out_ch``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(self.dropout(swish(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        b, c, height, width = x.shape
        q = self.q(h).reshape(b, c, height * width).permute(0, 2, 1)  # b, hw, c
        k = self.k(h).reshape(b, c, height * width)  # b, c, hw
        v = self.v(h).reshape(b, c, height * width)
        weights = torch.softmax(torch.bmm(q, k) * (int(c) ** -0.5), dim=2)  # b, hw (queries), hw (keys)
        out = torch.bmm(v, weights.permute(0, 2, 1)).reshape(b, c, height, width)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Mid(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class _Level(nn.Module):
    """One resolution: ``block[i]`` each followed by ``attn[i]`` when the level has attention."""

    def __init__(self, widths: Sequence[int], attention: bool, dropout: float) -> None:
        super().__init__()
        self.block = nn.ModuleList(ResnetBlock(i, o, dropout) for i, o in zip(widths[:-1], widths[1:], strict=True))
        self.attn = nn.ModuleList(AttnBlock(o) for o in widths[1:]) if attention else nn.ModuleList()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if len(self.attn):
                x = self.attn[i](x)
        return x


class Encoder(nn.Module):
    """Images ``[B, in_channels, H, W]`` (taming: in ``[-1, 1]``) -> ``[B, z_channels, H/f, W/f]``."""

    def __init__(
        self,
        *,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        attn_resolutions: Sequence[int],
        resolution: int,
        z_channels: int,
        in_channels: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        width, side = ch, resolution
        for i, mult in enumerate(ch_mult):
            level = _Level([width] + [ch * mult] * num_res_blocks, side in attn_resolutions, dropout)
            width = ch * mult
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(width)
                side //= 2
            self.down.append(level)
        self.mid = _Mid(width, dropout)
        self.norm_out = group_norm(width)
        self.conv_out = nn.Conv2d(width, z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
            if hasattr(level, "downsample"):
                h = level.get_submodule("downsample")(h)
        return self.conv_out(swish(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    """``[B, z_channels, h, w]`` -> ``[B, out_ch, h*f, w*f]`` (taming: images in ``[-1, 1]``, unclamped)."""

    def __init__(
        self,
        *,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        attn_resolutions: Sequence[int],
        resolution: int,
        z_channels: int,
        out_ch: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        width = ch * ch_mult[-1]
        side = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, width, 3, padding=1)
        self.mid = _Mid(width, dropout)
        levels: list[nn.Module] = []
        for i in reversed(range(len(ch_mult))):
            level = _Level([width] + [ch * ch_mult[i]] * (num_res_blocks + 1), side in attn_resolutions, dropout)
            width = ch * ch_mult[i]
            if i != 0:
                level.upsample = Upsample(width)
                side *= 2
            levels.insert(0, level)  # taming prepends: up[0] is the full-resolution level
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(width)
        self.conv_out = nn.Conv2d(width, out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
            if hasattr(level, "upsample"):
                h = level.get_submodule("upsample")(h)
        return self.conv_out(swish(self.norm_out(h)))

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight the adaptive GAN weight differentiates against (taming's ``get_last_layer``)."""
        return self.conv_out.weight
