"""The conformance suite every ``prior`` plugin runs (see :class:`genkit.Prior` for the contract).

Use from a plugin's tests::

    from genkit.testing import PriorSuite

    class TestMyPrior(PriorSuite):
        kind = "mykind"
        params = {"width": 32, "depth": 2}
        # the default context: a tokenizer's and an autoencoder's facts, small
        context = {"text_vocab_size": 40, "text_length": 6, "image_vocab_size": 24, "image_grid": (3, 4)}

Checks (``test_*``): structure (satisfies the Protocol; residual blocks and shard units are its own submodules, no
two branches share parameters), loss (finite scalar, float ``text_loss``/``image_loss`` metrics, a gradient, the same
loss twice in eval mode), sampling (shape, vocabulary, reproducible for a generator, primed rows kept, inputs
unchanged, ``progress`` reaching the positions to generate; for a prior whose ``sample`` takes ``known``, the given
positions kept bit for bit) and the save/load round trip (the same loss). Nothing assumes a decoding order: the
checks hold for autoregressive and masked-token priors alike.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

import genkit
from genkit.testing.suite import Case, Suite


@dataclass(kw_only=True)
class PriorCase(Case):
    """A prior under test: its ``context`` has ``text_vocab_size``, ``text_length``, ``image_vocab_size`` and
    ``image_grid``."""

    role: ClassVar[str] = "prior"

    def random_batch(self, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """See :func:`random_batch`."""
        return random_batch(self.context, batch, seed)


def random_batch(
    context: genkit.BuildContext, batch: int = 2, seed: int = 0
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


def check_structure(case: PriorCase) -> None:
    """A ``torch.nn.Module`` satisfying :class:`genkit.Prior`; ``residual_blocks()`` and ``shard_units()`` are
    non-empty lists of its own submodules, and no two residual branches share a parameter."""
    prior = case.build()
    assert isinstance(prior, torch.nn.Module), f"{type(prior).__name__} is not a torch.nn.Module"
    assert isinstance(prior, genkit.Prior), "the component does not satisfy genkit.Prior"
    modules = set(map(id, prior.modules()))
    branches, units = prior.residual_blocks(), prior.shard_units()
    assert branches and units, "residual_blocks() and shard_units() must not be empty"
    for module in [*branches, *units]:
        assert isinstance(module, torch.nn.Module) and id(module) in modules, "a block is not a submodule of the prior"
    owned = [id(p) for branch in branches for p in branch.parameters()]
    assert len(owned) == len(set(owned)), "two residual branches share parameters"


def check_loss(case: PriorCase) -> None:
    """``loss(text, lengths, image)`` in train mode: a finite scalar, float ``text_loss`` and ``image_loss`` metrics,
    and a non-zero gradient; in eval mode, the same loss for the same inputs (a loss may draw masks or caption
    dropout from torch's global RNG in training only)."""
    prior = case.build()
    text, lengths, image = case.random_batch()
    prior.train()
    loss, metrics = prior.loss(text, lengths, image)
    assert loss.dim() == 0 and torch.isfinite(loss), f"loss must be a finite scalar, got {loss}"
    for key in ("text_loss", "image_loss"):
        assert isinstance(metrics.get(key), float) and math.isfinite(metrics[key]), f"metrics[{key!r}] must be a float"
    loss.backward()
    grads = [p.grad for p in prior.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "loss.backward() gives no gradient"
    prior.eval()
    with torch.no_grad():
        first, _ = prior.loss(text, lengths, image)
        torch.rand(3)  # move the global RNG on: an eval loss must not depend on it
        second, _ = prior.loss(text, lengths, image)
    assert torch.equal(first, second), f"eval-mode loss differs between two calls ({float(first)} vs {float(second)})"


def accepts_known(prior: Any) -> bool:
    """Whether ``prior.sample`` takes the optional inpainting keyword ``known`` (by name)."""
    try:
        parameters = inspect.signature(prior.sample).parameters
    except (TypeError, ValueError):
        return False
    return "known" in parameters


def check_sampling(case: PriorCase) -> None:
    """``sample``: ``long`` ids ``[B * candidates, h, w]`` in the image vocabulary, reproducible for a generator,
    primed rows kept with every option (top-k, top-p, temperature, guidance), inputs unchanged; ``progress(done,
    total)`` called with ``total`` the positions to generate, ``done`` never decreasing and ending at ``total``.
    Whatever the decoding order. A prior whose ``sample`` takes ``known=(ids, mask)`` keeps the given positions bit
    for bit."""
    prior = case.build()
    context = case.context
    text, lengths, image = case.random_batch()
    h, w = context.require("image_grid")
    vocab = context.require("image_vocab_size")
    before = [text.clone(), lengths.clone(), image.clone()]
    prior.eval()

    def draw(seed: int, **options: Any) -> torch.Tensor:
        ids: torch.Tensor = prior.sample(text, lengths, generator=torch.Generator().manual_seed(seed), **options)
        return ids

    out = draw(0, candidates=3)
    assert out.shape == (text.shape[0] * 3, h, w) and out.dtype == torch.long, f"sample shape {tuple(out.shape)}"
    assert int(out.min()) >= 0 and int(out.max()) < vocab, "sampled ids outside the image vocabulary"
    assert torch.equal(out, draw(0, candidates=3)), "sampling is not reproducible for a given generator"
    rows = max(1, h // 2)
    primed = draw(1, candidates=2, prime_ids=image[:, :rows], top_k=4, top_p=0.9, temperature=0.7, guidance=1.5)
    assert torch.equal(primed[:, :rows], image[:, :rows].repeat_interleave(2, 0)), "primed rows were not kept"
    calls: list[tuple[int, int]] = []
    draw(2, candidates=2, progress=lambda done, total: calls.append((done, total)))
    todo = h * w
    assert calls, "progress was never called"
    assert all(total == todo for _, total in calls), f"progress total is not the {todo} positions to generate: {calls}"
    dones = [done for done, _ in calls]
    assert dones == sorted(dones) and dones[-1] == todo, f"progress does not count up to {todo}: {calls}"
    if accepts_known(prior):
        mask = torch.rand(image.shape, generator=torch.Generator().manual_seed(2)) < 0.5
        mask[0] = False  # one caption with nothing given, one with everything given
        mask[-1] = True
        known = (image.clone(), mask.clone())
        filled = draw(3, candidates=2, known=known, top_k=4, top_p=0.9, temperature=0.7, guidance=1.5)
        assert filled.shape == (text.shape[0] * 2, h, w) and filled.dtype == torch.long, "inpainting shape"
        assert int(filled.min()) >= 0 and int(filled.max()) < vocab, "inpainted ids outside the image vocabulary"
        keep = mask.repeat_interleave(2, 0)
        assert torch.equal(filled[keep], image.repeat_interleave(2, 0)[keep]), "known positions were changed"
        assert torch.equal(known[0], image) and torch.equal(known[1], mask), "sample() modified known"
    for old, new in zip(before, (text, lengths, image), strict=True):
        assert torch.equal(old, new), "sample() modified its inputs"


def check_export(case: PriorCase) -> None:
    """Through ``genkit.save_component``/``load_component``: the loaded prior computes the same loss (both from the
    same global RNG state)."""
    prior = case.build()
    loaded = case.save_and_load(prior)
    text, lengths, image = case.random_batch()
    prior.eval()
    with torch.no_grad():
        torch.manual_seed(case.seed)
        a, _ = prior.loss(text, lengths, image)
        torch.manual_seed(case.seed)
        b, _ = loaded.loss(text, lengths, image)
    assert torch.allclose(a, b), "the exported prior computes a different loss"


class PriorSuite(Suite):
    """The prior checks as a test class: subclass it with ``kind`` and ``params`` (see the module docstring)."""

    role: ClassVar[str] = "prior"
    case_type: ClassVar[type[Case]] = PriorCase
    default_context: ClassVar[dict[str, Any]] = {
        "text_vocab_size": 40,
        "text_length": 6,
        "image_vocab_size": 24,
        "image_grid": (3, 4),
    }

    def test_structure(self, genkit_conformance: PriorCase) -> None:
        self.check(check_structure, genkit_conformance)

    def test_loss(self, genkit_conformance: PriorCase) -> None:
        self.check(check_loss, genkit_conformance)

    def test_sampling(self, genkit_conformance: PriorCase) -> None:
        self.check(check_sampling, genkit_conformance)

    def test_export(self, genkit_conformance: PriorCase) -> None:
        self.check(check_export, genkit_conformance)
