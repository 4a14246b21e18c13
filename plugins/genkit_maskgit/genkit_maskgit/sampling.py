"""Iterative parallel decoding (MaskGIT): every generated image token starts as [MASK]; each step predicts all
masked tokens at once, keeps the most confident and masks the rest again.

Step ``t`` of ``steps`` (one forward pass of every row, guided rows in the same batch):

1. draw a token for every masked position from the (guided, temperature/top-k/top-p filtered) distribution;
2. its confidence is its log-probability under that distribution plus Gumbel noise scaled by
   ``choice_temperature * (1 - (t + 1) / steps)`` (random choices early, greedy at the end);
3. of the row's ``N`` tokens to generate, ``floor(N * cos(pi/2 * (t + 1) / steps))`` stay masked: the least
   confident of this step's draws. Tokens decided earlier and given ones are never masked again.

After the last step nothing is masked (when the schedule has decided every token earlier, as it does for a few
tokens in many steps, the remaining steps are skipped). Given tokens (``prime_ids`` rows, ``known`` positions) are
never drawn over.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from genkit import InputError
from genkit.helpers import filter_logits, gumbel_like
from genkit_maskgit.schedule import lowest, masked_counts


def given_tokens(
    model,
    batch: int,
    prime_ids: torch.Tensor | None,
    known: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids Long[B, h*w], given Bool[B, h*w])`` on the model's device from ``prime_ids`` (the first rows) and
    ``known`` (ids and a mask of given positions); a one-line ``InputError`` for bad shapes or ids."""
    h, w = model.grid
    vocab = model.image_vocab_size
    device = model.image_head.weight.device
    ids = torch.zeros(batch, h * w, dtype=torch.long, device=device)
    given = torch.zeros(batch, h * w, dtype=torch.bool, device=device)
    if prime_ids is not None:
        if prime_ids.dim() != 3 or prime_ids.shape[0] != batch or prime_ids.shape[2] != w or prime_ids.shape[1] > h:
            raise InputError(f"sample: prime_ids must be [B, r <= {h}, {w}], got {tuple(prime_ids.shape)}")
        first = prime_ids.shape[1] * w
        ids[:, :first] = prime_ids.to(device).flatten(1)
        given[:, :first] = True
    if known is not None:
        try:
            known_ids, known_mask = known
        except (TypeError, ValueError):
            raise InputError("sample: known must be a pair (ids Long[B, h, w], mask Bool[B, h, w])") from None
        shape = (batch, h, w)
        if tuple(known_ids.shape) != shape or tuple(known_mask.shape) != shape or known_mask.dtype != torch.bool:
            raise InputError(
                f"sample: known must be (ids [{batch}, {h}, {w}], a bool mask [{batch}, {h}, {w}]), got "
                f"({tuple(known_ids.shape)}, {known_mask.dtype} {tuple(known_mask.shape)})"
            )
        more_ids, more = known_ids.to(device).flatten(1).long(), known_mask.to(device).flatten(1)
        if bool((given & more & (ids != more_ids)).any()):
            raise InputError("sample: prime_ids and known give different tokens for the same position")
        ids, given = torch.where(more, more_ids, ids), given | more
    if bool(((ids < 0) | (ids >= vocab))[given].any()):
        raise InputError(f"sample: given image tokens must be in [0, {vocab})")
    return ids, given


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
    known: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    progress: Callable[[int, int], None] | None = None,
    steps: int | None = None,
) -> torch.Tensor:
    """``LongTensor[B * candidates, h, w]``; candidates of caption ``b`` are rows ``b*candidates ...``.

    - ``temperature``, ``top_k``, ``top_p`` shape the distribution each token is drawn from (image vocabulary).
    - ``guidance`` g > 0: classifier-free guidance with the all-pads caption as the null condition; both run in
      one batch and tokens are drawn from ``cond + g * (cond - uncond)`` (log-probabilities).
    - ``prime_ids [B, r, w]``: the first ``r`` rows are given (completion). ``known = (ids [B, h, w], mask
      [B, h, w])``: the positions where ``mask`` is true are given (inpainting). Given tokens are returned as
      they are, bit for bit; only the others are generated.
    - ``steps``: decoding steps (forward passes), default ``params.steps``.
    - ``generator`` makes it reproducible; the caller's tensors are never modified.
    - ``progress(done, total)`` after each step: ``total`` = image positions to generate (the most of any row),
      ``done`` = those decided so far (``total`` after the last step).
    """
    steps = model.params.steps if steps is None else steps
    if (
        candidates < 1
        or temperature <= 0
        or guidance < 0
        or steps < 1
        or (top_k is not None and top_k < 1)
        or (top_p is not None and not 0 < top_p <= 1)
    ):
        raise InputError(
            f"sample: bad options (candidates={candidates}, temperature={temperature}, top_k={top_k}, "
            f"top_p={top_p}, guidance={guidance}, steps={steps})"
        )
    if text_ids.dim() != 2 or text_lengths.shape != text_ids.shape[:1]:
        raise InputError(
            f"sample: text_ids must be [B, T] and text_lengths [B], got {tuple(text_ids.shape)} and "
            f"{tuple(text_lengths.shape)}"
        )
    device = model.image_head.weight.device
    h, w = model.grid
    ids, given = given_tokens(model, text_ids.shape[0], prime_ids, known)
    text_full = model.fill_text(text_ids.to(device), text_lengths.to(device)).repeat_interleave(candidates, 0)
    ids, given = ids.repeat_interleave(candidates, 0), given.repeat_interleave(candidates, 0)
    rows = text_full.shape[0]
    image = torch.where(given, ids, model.mask_id)
    todo = (~given).sum(dim=1)  # tokens to generate, per row
    total = int(todo.max()) if rows else 0
    if total == 0:
        return image.view(rows, h, w)
    if guidance > 0:
        text_full = torch.cat([text_full, model.null_text(rows, device)])
    filtered = temperature != 1.0 or top_k is not None or top_p is not None
    choice_temperature = model.params.choice_temperature

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for step in range(steps):
                masked = image == model.mask_id  # [rows, h*w]
                if not bool(masked.any()):  # few tokens, many steps: all decided before the last step
                    break
                hidden = model.hidden(text_full, torch.cat([image, image]) if guidance > 0 else image)
                logp = model.image_head(hidden[:rows][masked]).float().log_softmax(dim=-1)  # [masked, V]
                if guidance > 0:
                    uncond = model.image_head(hidden[rows:][masked]).float().log_softmax(dim=-1)
                    logp = logp + guidance * (logp - uncond)
                if filtered:
                    logp = filter_logits(logp, temperature, top_k, top_p)
                logp = logp.log_softmax(dim=-1)  # the distribution the tokens are drawn from
                tokens = (logp + gumbel_like(logp, generator)).argmax(dim=-1)  # Gumbel-max: a draw from it
                chosen = logp.gather(1, tokens[:, None]).squeeze(1)
                annealed = choice_temperature * (1.0 - (step + 1) / steps)
                confidence = torch.full(image.shape, float("inf"), device=device)
                confidence[masked] = chosen + annealed * gumbel_like(chosen, generator)
                still_masked = masked_counts(step, steps, todo)
                image[masked] = tokens
                image[lowest(confidence, still_masked)] = model.mask_id
                if progress is not None:
                    progress(total - int(still_masked.max()), total)
    finally:
        model.train(was_training)
    return image.view(rows, h, w)
