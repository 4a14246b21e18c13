"""Reconstruction quality of images in ``[0, 1]``: PSNR and SSIM per image, and code usage of a token histogram.

SSIM is Wang et al. (2004) as torchmetrics computes it by default: an 11x11 gaussian window with sigma 1.5,
``K1 = 0.01``, ``K2 = 0.03``, data range 1, population (co)variances, per channel, the image padded by reflection
so that every pixel has a window, averaged over the pixels and the channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr_per_image(reconstructions: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """``float[N]``: ``10 log10(1 / mse)`` of each image pair (``[N, C, H, W]`` in ``[0, 1]``), capped at 100 dB
    for identical images."""
    mse = (reconstructions.float() - images.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_per_image(
    reconstructions: torch.Tensor, images: torch.Tensor, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """``float[N]``: the mean structural similarity of each image pair (``[N, C, H, W]`` in ``[0, 1]``, sides at
    least ``window``); 1 for identical images. See the module docstring for the constants."""
    x, y = reconstructions.double(), images.double()
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"ssim: expected two [N, C, H, W] tensors of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if min(x.shape[-2:]) < window:
        raise ValueError(f"ssim: images of {tuple(x.shape[-2:])} px are smaller than the {window}-px window")
    channels = x.shape[1]
    g = _gaussian_window(window, sigma).to(x.device)
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, window, window).contiguous()

    pad = window // 2
    x, y = (F.pad(t, (pad, pad, pad, pad), mode="reflect") for t in (x, y))

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    var_x = (blur(x * x) - mu_x**2).clamp_min(0)
    var_y = (blur(y * y) - mu_y**2).clamp_min(0)
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(1).float()


def code_usage(counts: torch.Tensor) -> tuple[float, float]:
    """``(usage, perplexity)`` of a code histogram ``[K]``: the share of codes used at least once, and
    ``exp(entropy)`` of the code frequencies (K when all are equally frequent, 1 for a single code)."""
    counts = counts.double()
    total = float(counts.sum())
    if total == 0:
        return 0.0, 0.0
    p = counts[counts > 0] / total
    return float((counts > 0).double().mean()), math.exp(float(-(p * p.log()).sum()))
