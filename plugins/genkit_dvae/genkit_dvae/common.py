"""Helpers shared by the image autoencoders (public: genkit-vqvae uses them too).

Input checks with one-line ``genkit.InputError`` messages, pixel mapping, codebook statistics and schedules.
"""

from __future__ import annotations

import math

import torch

from genkit import InputError


def grid_for(image_size: int, factor: int, kind: str) -> tuple[int, int]:
    """``(image_size // factor,) * 2``, or an InputError when ``image_size`` is not a multiple of ``factor``."""
    if image_size < factor or image_size % factor:
        raise InputError(
            f"autoencoder {kind}: image size {image_size} is not a multiple of the downsampling factor {factor}"
        )
    side = image_size // factor
    return (side, side)


def check_images(images: torch.Tensor, factor: int, kind: str) -> None:
    """Images must be ``float[B, 3, H, W]`` with ``H`` and ``W`` positive multiples of ``factor``."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputError(f"autoencoder {kind}: images must be float[B, 3, H, W], got {shape}")
    if not images.is_floating_point():
        raise InputError(f"autoencoder {kind}: images must be floating point in [0, 1], got {images.dtype}")
    height, width = images.shape[-2:]
    if height < factor or width < factor or height % factor or width % factor:
        raise InputError(
            f"autoencoder {kind}: image size {height}x{width} is not a multiple of the downsampling factor {factor}"
        )


def check_codes(codes: torch.Tensor, vocab_size: int, kind: str) -> None:
    """Codes must be an integer ``[B, h, w]`` tensor with values in ``[0, vocab_size)``."""
    if not isinstance(codes, torch.Tensor) or codes.dim() != 3 or codes.is_floating_point():
        shape = (tuple(codes.shape), codes.dtype) if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise InputError(f"autoencoder {kind}: codes must be LongTensor[B, h, w], got {shape}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= vocab_size):
        raise InputError(
            f"autoencoder {kind}: codes must lie in [0, {vocab_size}), got [{int(codes.min())}, {int(codes.max())}]"
        )


def map_pixels(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``[0, 1] -> [eps, 1 - eps]`` (the logit-Laplace support)."""
    return (1 - 2 * eps) * x + eps


def unmap_pixels(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Inverse of :func:`map_pixels`, clamped to ``[0, 1]``."""
    return torch.clamp((x - eps) / (1 - 2 * eps), 0, 1)


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB for images in ``[0, 1]`` (capped at 100 dB for a perfect match)."""
    return 100.0 if mse <= 1e-10 else 10.0 * math.log10(1.0 / mse)


def code_counts(codes: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """How often each code occurs: ``LongTensor[vocab_size]`` (sum these over batches to aggregate)."""
    return torch.bincount(codes.reshape(-1).long(), minlength=vocab_size)


def usage_and_perplexity(counts: torch.Tensor) -> tuple[float, float]:
    """From code counts: fraction of codes used at least once, and ``exp(entropy)`` of the code histogram."""
    total = counts.sum().clamp_min(1).double()
    probs = counts.double() / total
    entropy = -(probs[probs > 0] * probs[probs > 0].log()).sum()
    return float((counts > 0).double().mean()), float(entropy.exp())


def cosine_schedule(step: int, start: float, end: float, steps: int) -> float:
    """Cosine from ``start`` (step 0) to ``end`` (step ``steps`` and after); ``steps == 0`` means ``end`` at once."""
    if steps <= 0 or step >= steps:
        return float(end)
    progress = max(step, 0) / steps
    return float(end + (start - end) * 0.5 * (1 + math.cos(math.pi * progress)))
