"""Autoregressive sampling of image tokens: KV cache, candidates, temperature/top-k/top-p, classifier-free
guidance, completion from primed rows."""

from __future__ import annotations

from collections.abc import Callable

import torch

from genkit import InputError
from genkit.helpers import filter_logits, gumbel_like

NOISE_BLOCK_ELEMENTS = 1 << 20  # Gumbel noise drawn at once: at most this many numbers (4 MB in fp32)


class GumbelStream:
    """Gumbel noise ``float32 [rows, vocab]`` for successive decode steps, drawn several steps at a time.

    One ``torch.rand`` per block of steps instead of one per step (a decode step on the CPU is a few hundred
    small ops; the noise was 8 of them). On the CPU the numbers are the ones per-step draws from the same
    generator give: its stream is consumed in the same order.
    """

    def __init__(self, rows: int, vocab: int, steps: int, generator: torch.Generator | None, device) -> None:
        self.rows, self.vocab, self.left, self.generator, self.device = rows, vocab, steps, generator, device
        self.per_block = max(1, NOISE_BLOCK_ELEMENTS // max(1, rows * vocab))
        self.block: torch.Tensor | None = None
        self.used = 0

    def next(self) -> torch.Tensor:
        if self.block is None or self.used == self.block.shape[0]:
            count = max(1, min(self.per_block, self.left))
            template = torch.empty(count, self.rows, self.vocab, dtype=torch.float32, device=self.device)
            self.block, self.used = gumbel_like(template, self.generator), 0
        self.used += 1
        self.left -= 1
        return self.block[self.used - 1]


def decode(
    model,
    text_full: torch.Tensor,
    image: torch.Tensor,
    first: int,
    next_token: Callable[[torch.Tensor, int], torch.Tensor],
    use_cache: bool = True,
    group: int = 1,
) -> None:
    """Fill ``image[:, first:]`` (``LongTensor[M, h*w]``, in place) one token at a time.

    ``next_token(image_logits [M, V], n)`` returns the tokens of image position ``n``. With ``use_cache`` the prefix
    (text and the ``first`` given tokens) runs once and each step runs one position against the KV caches;
    without it every step recomputes the whole prefix (the reference the cache is tested against).
    ``group`` > 1 says that rows come in runs of ``group`` with the same prefix (the candidates of a caption):
    the prefill then runs once per run and its caches are copied to the other rows.
    """
    t, total = model.text_length, image.shape[1]
    if first >= total:
        return
    if not use_cache:
        for n in range(first, total):
            hidden = model.hidden(text_full, image, 0, t + n + 1)[:, -1]
            image[:, n] = next_token(model.image_logits(hidden), n)
        return
    caches, hidden = prefill(model, text_full, image, first, group)
    for n in range(first, total):
        image[:, n] = next_token(model.image_logits(hidden), n)
        if n + 1 < total:
            hidden = model.hidden(text_full, image, t + n + 1, t + n + 2, caches)[:, -1]


def prefill(model, text_full: torch.Tensor, image: torch.Tensor, first: int, group: int = 1):
    """KV caches filled with stream positions ``[0, T + first]`` (start, caption, the given image tokens) and the
    final hidden state of the last one, ``[M, width]``. With ``group`` > 1 (runs of rows with equal prefixes)
    the forward runs on the first row of each run only."""
    rows, t = image.shape[0], model.text_length
    weight = model.image_head.weight
    if group > 1 and rows % group == 0:
        unique = model.new_caches(rows // group, weight.device, weight.dtype)
        hidden = model.hidden(text_full[::group], image[::group], 0, t + first + 1, unique)[:, -1]
        caches = model.new_caches(rows, weight.device, weight.dtype)
        stop = t + first + 1
        for small, full in zip(unique, caches, strict=True):
            full.k[:, :, :stop] = small.k[:, :, :stop].repeat_interleave(group, 0)
            full.v[:, :, :stop] = small.v[:, :, :stop].repeat_interleave(group, 0)
        return caches, hidden.repeat_interleave(group, 0)
    caches = model.new_caches(rows, weight.device, weight.dtype)
    return caches, model.hidden(text_full, image, 0, t + first + 1, caches)[:, -1]


def _prepare(model, text_ids, text_lengths, candidates, prime_ids):
    if text_ids.dim() != 2 or text_lengths.shape != text_ids.shape[:1]:
        raise InputError(
            f"sample: text_ids must be [B, T] and text_lengths [B], got {tuple(text_ids.shape)} and "
            f"{tuple(text_lengths.shape)}"
        )
    device = model.image_head.weight.device
    h, w = model.grid
    text_full = model.fill_text(text_ids.to(device), text_lengths.to(device)).repeat_interleave(candidates, 0)
    image = torch.zeros(text_full.shape[0], h * w, dtype=torch.long, device=device)
    first = 0
    if prime_ids is not None:
        if (
            prime_ids.dim() != 3
            or prime_ids.shape[0] != text_ids.shape[0]
            or prime_ids.shape[2] != w
            or prime_ids.shape[1] > h
        ):
            raise InputError(f"sample: prime_ids must be [B, r <= {h}, {w}], got {tuple(prime_ids.shape)}")
        first = prime_ids.shape[1] * w
        image[:, :first] = prime_ids.to(device).flatten(1).repeat_interleave(candidates, 0)
    return text_full, image, first


@torch.no_grad()
def sample(
    model,
    text_ids: torch.Tensor,
    text_lengths: torch.Tensor,
    *,
    candidates: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    guidance: float = 0.0,
    prime_ids: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """``LongTensor[B * candidates, h, w]``; candidates of caption ``b`` are rows ``b*candidates ...``.

    - ``temperature``, ``top_k``, ``top_p`` act on the image vocabulary only (the image head).
    - ``guidance`` g > 0: classifier-free guidance with the all-pads caption as the null condition; both passes
      run as one batch and the next token is drawn from ``cond + g * (cond - uncond)`` (log-probabilities).
    - ``prime_ids [B, r, w]``: the first ``r`` rows are given (completion) and returned unchanged.
    - ``generator`` makes it reproducible; the caller's tensors are never modified.
    - ``progress(done, total)`` is called after each decode step (``total`` = positions to generate).
    """
    if (
        candidates < 1
        or temperature <= 0
        or guidance < 0
        or (top_k is not None and top_k < 1)
        or (top_p is not None and not 0 < top_p <= 1)
    ):
        raise InputError(
            f"sample: bad options (candidates={candidates}, temperature={temperature}, "
            f"top_k={top_k}, top_p={top_p}, guidance={guidance})"
        )
    text_full, image, first = _prepare(model, text_ids, text_lengths, candidates, prime_ids)
    rows = text_full.shape[0]
    steps = model.grid[0] * model.grid[1] - first
    if guidance > 0:
        text_full = torch.cat([text_full, model.null_text(rows, text_full.device)])
        image = torch.cat([image, image])

    noise = GumbelStream(rows, model.image_vocab_size, steps, generator, image.device)
    filtered = temperature != 1.0 or top_k is not None or top_p is not None

    def draw_token(logits: torch.Tensor, n: int) -> torch.Tensor:
        """The tokens of image position ``n``, drawn from the (guided, filtered) distribution of ``logits``."""
        logp = logits.float().log_softmax(dim=-1)
        if guidance > 0:
            cond, uncond = logp[:rows], logp[rows:]
            logp = cond + guidance * (cond - uncond)
        if filtered:
            logp = filter_logits(logp, temperature, top_k, top_p)
        token = (logp + noise.next()).argmax(dim=-1)  # Gumbel-max: a draw from softmax(logp)
        if progress is not None:
            progress(n - first + 1, steps)
        return torch.cat([token, token]) if guidance > 0 else token

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():  # no autograd bookkeeping: a decode step is a few hundred small ops
            decode(model, text_full, image, first, draw_token, use_cache, group=candidates)
    finally:
        model.train(was_training)
    h, w = model.grid
    return image[:rows].view(rows, h, w)


@torch.no_grad()
def teacher_forced_logits(
    model,
    text_ids: torch.Tensor,
    text_lengths: torch.Tensor,
    image_ids: torch.Tensor,
    prime_rows: int = 0,
    use_cache: bool = True,
) -> torch.Tensor:
    """Image logits ``[B, h*w - prime_rows*w, V]`` produced by the sampling loop when it is fed ``image_ids``
    (for checking the KV cache against a full forward pass)."""
    h, w = model.grid
    prime = image_ids[:, :prime_rows] if prime_rows else None
    text_full, image, first = _prepare(model, text_ids, text_lengths, 1, prime)
    truth = image_ids.flatten(1).to(image.device)
    logits: list[torch.Tensor] = []

    def true_token(step_logits: torch.Tensor, n: int) -> torch.Tensor:
        """Records the logits of position ``n`` and feeds the given token (teacher forcing)."""
        logits.append(step_logits)
        return truth[:, n]

    decode(model, text_full, image, first, true_token, use_cache)
    return torch.stack(logits, dim=1)
