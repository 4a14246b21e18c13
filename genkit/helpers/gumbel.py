"""Gumbel noise, shared by the samplers and relaxations of the plugins (public: ``genkit.helpers.gumbel``).

``argmax(logits + gumbel_like(logits))`` is an exact draw from ``softmax(logits)`` (the Gumbel-max trick), and
``softmax((logits + gumbel_like(logits)) / tau)`` is a gumbel-softmax (concrete) sample.
"""

from __future__ import annotations

import torch


def gumbel_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel noise with the shape, dtype and device of ``x``: ``-log(-log(U))``, ``U ~ Uniform(0, 1)``.

    Drawn from ``torch.rand`` (reproducible with ``generator``): on CPU about 5x faster than the
    ``exponential_`` draws of ``torch.nn.functional.gumbel_softmax`` and ``torch.multinomial``.
    """
    uniform = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return uniform.clamp_(torch.finfo(x.dtype).tiny, 1.0).log_().neg_().log_().neg_()


def gumbel_max_sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of ``logits [..., V]`` drawn from ``softmax(logits)`` (``-inf`` entries are never drawn)."""
    return (logits + gumbel_like(logits, generator)).argmax(dim=-1)
