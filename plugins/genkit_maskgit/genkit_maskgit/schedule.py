"""MaskGIT's cosine masking schedule, for training (how many tokens to hide) and for decoding (how many stay
hidden after each step).

``gamma(r) = cos(pi/2 * r)`` falls from 1 at ``r = 0`` to 0 at ``r = 1``. Training hides a fraction
``gamma(u)``, ``u ~ U(0, 1)`` per image (at least one token); decoding ``N`` tokens in ``steps`` iterations leaves
``floor(N * gamma((t + 1) / steps))`` of them masked after iteration ``t``: all of them decided after the last.
"""

from __future__ import annotations

import math

import torch


def remaining(step: int, steps: int) -> float:
    """The fraction still masked after decoding step ``step`` (0-based) of ``steps``: ``cos(pi/2 * (step + 1) /
    steps)`` in float64, evaluated left to right as written (0.0 after the last step)."""
    if step + 1 >= steps:
        return 0.0
    return math.cos(math.pi / 2 * (step + 1) / steps)


def masked_after(step: int, steps: int, total: int) -> int:
    """Tokens of ``total`` still masked after decoding step ``step`` (0-based) of ``steps``; 0 after the last."""
    return math.floor(total * remaining(step, steps))


def masked_counts(step: int, steps: int, totals: torch.Tensor) -> torch.Tensor:
    """:func:`masked_after` for a tensor of ``totals`` (one per row), computed with the same float64 arithmetic."""
    return (totals.double() * remaining(step, steps)).floor().long()


def schedule(total: int, steps: int) -> list[int]:
    """Tokens still masked after each of ``steps`` decoding steps: non-increasing, ending at 0."""
    return [masked_after(step, steps, total) for step in range(steps)]


def lowest(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``Bool[B, N]``: in each row ``b``, the ``counts[b]`` positions with the lowest ``scores`` (ties broken by
    position, so the result is deterministic)."""
    ranks = torch.empty_like(scores, dtype=torch.long)
    order = scores.argsort(dim=1, stable=True)
    ranks.scatter_(1, order, torch.arange(scores.shape[1], device=scores.device).expand_as(order))
    return ranks < counts[:, None]


def training_mask(
    batch: int, total: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> torch.Tensor:
    """``Bool[batch, total]``: the image tokens to hide, ``max(1, floor(total * cos(pi/2 * u)))`` per row, ``u ~ U(0,
    1)``, at uniformly random places. Draws from ``generator`` (else torch's global RNG)."""
    u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    counts = (total * torch.cos(math.pi / 2 * u)).floor().long().clamp(1, total)
    return lowest(torch.rand(batch, total, generator=generator, device=device), counts)
