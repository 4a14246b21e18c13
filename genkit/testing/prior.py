"""Conformance suite for ``prior`` components (``genkit.roles.Prior``).

Call :func:`check_prior` from a plugin's tests with a small built prior, its build context and (optionally) its
params to check the export round trip::

    from genkit.testing.prior import check_prior
    check_prior(prior, context, params=params, tmp_path=tmp_path)

Each check raises ``AssertionError`` with a message saying which part of the contract failed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from genkit.plugins.context import BuildContext
from genkit.roles import Prior


def random_batch(
    context: BuildContext, batch: int = 2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(text_ids [B, T], text_lengths [B], image_ids [B, h, w])`` drawn from the context's vocabularies; lengths
    cover 0 and T."""
    gen = torch.Generator().manual_seed(seed)
    t, (h, w) = context.require("text_length"), context.require("image_grid")
    text = torch.randint(0, context.require("text_vocab_size"), (batch, t), generator=gen)
    lengths = torch.randint(0, t + 1, (batch,), generator=gen)
    lengths[0], lengths[-1] = t, 0
    image = torch.randint(0, context.require("image_vocab_size"), (batch, h, w), generator=gen)
    return text, lengths, image


def check_loss(prior: Any, context: BuildContext) -> None:
    text, lengths, image = random_batch(context)
    prior.train()
    loss, metrics = prior.loss(text, lengths, image)
    assert loss.dim() == 0 and torch.isfinite(loss), f"loss must be a finite scalar, got {loss}"
    for key in ("text_loss", "image_loss"):
        assert isinstance(metrics.get(key), float) and math.isfinite(metrics[key]), f"metrics[{key!r}] must be a float"
    loss.backward()
    grads = [p.grad for p in prior.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "loss.backward() gives no gradient"
    prior.zero_grad(set_to_none=True)


def check_structure(prior: Any) -> None:
    assert isinstance(prior, Prior), "the component does not satisfy genkit.roles.Prior"
    modules = set(map(id, prior.modules()))
    branches, units = prior.residual_blocks(), prior.shard_units()
    assert branches and units, "residual_blocks() and shard_units() must not be empty"
    for module in [*branches, *units]:
        assert isinstance(module, torch.nn.Module) and id(module) in modules, "a block is not a submodule of the prior"
    owned = [id(p) for branch in branches for p in branch.parameters()]
    assert len(owned) == len(set(owned)), "two residual branches share parameters"


def check_sampling(prior: Any, context: BuildContext) -> None:
    text, lengths, image = random_batch(context)
    h, w = context.require("image_grid")
    vocab = context.require("image_vocab_size")
    before = [text.clone(), lengths.clone(), image.clone()]
    prior.eval()

    def draw(seed: int, **options: Any) -> torch.Tensor:
        return prior.sample(text, lengths, generator=torch.Generator().manual_seed(seed), **options)

    out = draw(0, candidates=3)
    assert out.shape == (text.shape[0] * 3, h, w) and out.dtype == torch.long, f"sample shape {tuple(out.shape)}"
    assert int(out.min()) >= 0 and int(out.max()) < vocab, "sampled ids outside the image vocabulary"
    assert torch.equal(out, draw(0, candidates=3)), "sampling is not reproducible for a given generator"
    rows = max(1, h // 2)
    primed = draw(1, candidates=2, prime_ids=image[:, :rows], top_k=4, top_p=0.9, temperature=0.7, guidance=1.5)
    assert torch.equal(primed[:, :rows], image[:, :rows].repeat_interleave(2, 0)), "primed rows were not kept"
    for old, new in zip(before, (text, lengths, image)):
        assert torch.equal(old, new), "sample() modified its inputs"


def check_export(prior: Any, context: BuildContext, params: Any, tmp_path: Path) -> None:
    from genkit.export import load_component, save_component

    save_component(tmp_path, "prior", prior, params, context)
    loaded = load_component(tmp_path, "prior")
    text, lengths, image = random_batch(context)
    prior.eval()
    with torch.no_grad():
        a, _ = prior.loss(text, lengths, image)
        b, _ = loaded.loss(text, lengths, image)
    assert torch.allclose(a, b), "the exported prior computes a different loss"


def check_prior(prior: Any, context: BuildContext, params: Any = None, tmp_path: Path | None = None) -> None:
    """Run every check; the export round trip only when ``params`` and ``tmp_path`` are given."""
    check_structure(prior)
    check_loss(prior, context)
    check_sampling(prior, context)
    if params is not None and tmp_path is not None:
        check_export(prior, context, params, tmp_path)
