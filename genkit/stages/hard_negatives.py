"""Hard negatives for the reranker: an image's own tokens with a few of them replaced, decoded.

The reranker ranks decoded samples of the prior, and the prior's typical error is local: a few wrong tokens
that round off a corner, notch an edge or add a bump. In-batch InfoNCE on clean images never shows the
reranker such a near miss. :func:`corrupt_tokens` makes them from the frozen autoencoder's tokens of the
training images, so the reranker learns to score a caption higher with its image than with that image's
slightly broken copies.

Which tokens: the ones on or next to the image's content, where a wrong token changes the content's outline.
Content is every token other than the image's most frequent one (its background), plus its 4-neighbours.
Replacements come from the codes used in the same image, so a corrupted token is a plausible piece (background,
edge, fill) in the wrong place, as in a sampling error, not noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def content_region(tokens: torch.Tensor) -> torch.Tensor:
    """``bool[B, h, w]``: tokens other than each grid's most frequent one, grown by one token (4-neighbours)."""
    flat = tokens.flatten(1)
    background = torch.mode(flat, dim=1).values
    content = (tokens != background[:, None, None]).float()[:, None]
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]], device=tokens.device)[None, None]
    return F.conv2d(content, cross, padding=1)[:, 0] > 0


def corrupt_tokens(
    tokens: torch.Tensor, copies: int, replaced: int, vocab_size: int, generator: torch.Generator
) -> torch.Tensor:
    """``LongTensor[B, copies, h, w]``: ``copies`` versions of each grid ``tokens [B, h, w]``, each with
    ``replaced`` tokens of its content region (all tokens where it has no content) changed to another code of
    the same grid (a random token where the grid holds a single code). Seeded by ``generator``; every copy
    differs from the original.
    """
    batch, h, w = tokens.shape
    out = tokens[:, None].expand(batch, copies, h, w).reshape(batch * copies, h * w).clone()
    region = content_region(tokens).flatten(1)
    region = torch.where(region.any(dim=1, keepdim=True), region, torch.ones_like(region))
    region = region.repeat_interleave(copies, dim=0)
    source = tokens.flatten(1).repeat_interleave(copies, dim=0)
    rows = torch.arange(batch * copies)
    for _ in range(replaced):
        weights = region.float() + 1e-9 * torch.rand(region.shape, generator=generator)  # random order among ties
        position = torch.multinomial(weights, 1, generator=generator)[:, 0]
        # another code of the same grid: a random token of the grid whose code differs from the current one
        current = out[rows, position]
        differs = (source != current[:, None]).float()
        has_other = differs.sum(dim=1) > 0
        pick = torch.multinomial(differs + (~has_other)[:, None].float(), 1, generator=generator)[:, 0]
        replacement = torch.where(has_other, source[rows, pick], (current + 1) % vocab_size)
        out[rows, position] = replacement
        region[rows, position] = False  # each replaced position once
        region = torch.where(region.any(dim=1, keepdim=True), region, torch.ones_like(region))
    return out.view(batch, copies, h, w)
