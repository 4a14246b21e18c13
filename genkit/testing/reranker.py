"""The conformance suite every ``reranker`` plugin runs (see :class:`genkit.Reranker` for the contract).

Use from a plugin's tests::

    from genkit.testing import RerankerSuite

    class TestMyReranker(RerankerSuite):
        kind = "mykind"
        params = {"width": 32, "depth": 1}
        context = {"image_size": 16, "text_vocab_size": 40, "text_length": 6}  # the default
        batch = 4  # pairs per test batch (>= 3), the default

Checks (``test_*``): protocol (built on the CPU), score shape, determinism (two calls, two builds), batch and order
independence, padding ignored (ids past a caption's length do not matter, its length does), inputs unchanged,
training loss (a finite gradient for every trainable parameter), validation metrics (top-1 retrieval both ways),
overfitting one batch, bad inputs (``genkit.InputError``), the save/load round trip and residual blocks/shard
units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

import genkit
from genkit.testing.suite import Case, Suite


@dataclass(kw_only=True)
class RerankerCase(Case):
    """A reranker under test: its ``context`` has ``image_size``, ``text_vocab_size`` and ``text_length``; the
    checks score ``batch`` (>= 3) random pairs drawn from ``seed``, which also seeds every build."""

    role: ClassVar[str] = "reranker"
    batch: int = 4

    def inputs(self, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random ``(ids, lengths, images)``: lengths include 0 and the full length; padding holds 0."""
        gen = torch.Generator().manual_seed(self.seed if seed is None else seed)
        vocab, length, size = (self.context.require(n) for n in ("text_vocab_size", "text_length", "image_size"))
        ids = torch.randint(0, vocab, (self.batch, length), generator=gen)
        lengths = torch.randint(1, length + 1, (self.batch,), generator=gen)
        lengths[0], lengths[1] = length, 0
        ids[torch.arange(length)[None, :] >= lengths[:, None]] = 0
        images = torch.rand(self.batch, 3, size, size, generator=gen)
        return ids, lengths, images


def check_protocol(case: RerankerCase) -> None:
    """A ``torch.nn.Module`` satisfying :class:`genkit.Reranker`, built on the CPU."""
    model = case.build()
    assert isinstance(model, torch.nn.Module), f"{type(model).__name__} is not a torch.nn.Module"
    assert isinstance(model, genkit.Reranker), f"{type(model).__name__} does not satisfy genkit.Reranker"
    for name, tensor in model.state_dict().items():
        assert tensor.device.type == "cpu", f"build must construct on the CPU; {name} is on {tensor.device}"


def check_score_shape(case: RerankerCase) -> None:
    """``score``: finite floats ``[B]``, without an autograd graph."""
    model = case.build()
    ids, lengths, images = case.inputs()
    scores = model.score(ids, lengths, images)
    assert isinstance(scores, torch.Tensor), f"score returned {type(scores).__name__}, not a tensor"
    assert scores.shape == (case.batch,), f"score shape {tuple(scores.shape)}, expected ({case.batch},)"
    assert scores.is_floating_point(), f"score dtype {scores.dtype} is not floating point"
    assert bool(torch.isfinite(scores).all()), f"score has non-finite values: {scores}"
    assert not scores.requires_grad and scores.grad_fn is None, "score must not build an autograd graph"


def check_score_deterministic(case: RerankerCase) -> None:
    """Two calls in eval mode, and two builds under the same seed, give the same scores."""
    model = case.build().eval()
    ids, lengths, images = case.inputs()
    first = model.score(ids, lengths, images)
    second = model.score(ids, lengths, images)
    assert torch.equal(first, second), f"score differs between two calls in eval mode: {first} vs {second}"
    rebuilt = case.build().eval().score(ids, lengths, images)
    assert torch.equal(first, rebuilt), "two builds under the same torch seed score differently"


def check_score_batch_independent(case: RerankerCase) -> None:
    """A pair scores the same alone, in a batch and in a permuted batch."""
    model = case.build().eval()
    ids, lengths, images = case.inputs()
    full = model.score(ids, lengths, images)
    for b in range(case.batch):
        single = model.score(ids[b : b + 1], lengths[b : b + 1], images[b : b + 1])
        assert torch.allclose(single[0], full[b], atol=1e-5, rtol=1e-4), (
            f"score of pair {b} alone ({float(single[0]):.6f}) differs from in a batch ({float(full[b]):.6f})"
        )
    order = torch.randperm(case.batch, generator=torch.Generator().manual_seed(1))
    permuted = model.score(ids[order], lengths[order], images[order])
    assert torch.allclose(permuted, full[order], atol=1e-5, rtol=1e-4), "score depends on the order of the batch"


def check_padding_ignored(case: RerankerCase) -> None:
    """Ids at positions ``>= length`` do not change a score; a caption's length does."""
    model = case.build().eval()
    ids, lengths, images = case.inputs()
    vocab = case.context.require("text_vocab_size")
    noisy = ids.clone()
    pad = torch.arange(ids.shape[1])[None, :] >= lengths[:, None]
    noisy[pad] = torch.randint(0, vocab, (int(pad.sum()),), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(model.score(noisy, lengths, images), model.score(ids, lengths, images), atol=1e-6), (
        "ids at positions >= length change the score; mask them out with the lengths"
    )
    shorter = lengths.clone()
    shorter[0] = max(int(lengths[0]) - 1, 0)
    changed = model.score(ids, shorter, images)[0] != model.score(ids, lengths, images)[0]
    assert bool(changed), "shortening a caption's length does not change its score: are the lengths ignored?"


def check_inputs_unchanged(case: RerankerCase) -> None:
    """``score``, ``training_loss`` and ``validation_metrics`` leave their inputs as they were."""
    model = case.build()
    ids, lengths, images = case.inputs()
    copies = (ids.clone(), lengths.clone(), images.clone())
    model.score(ids, lengths, images)
    model.training_loss(ids, lengths, images)
    model.validation_metrics(ids, lengths, images)
    for name, before, after in zip(("text_ids", "text_lengths", "images"), copies, (ids, lengths, images), strict=True):
        assert torch.equal(before, after), f"the reranker modified its input {name}"


def check_training_loss(case: RerankerCase) -> None:
    """``training_loss``: a finite differentiable scalar, float metrics, a finite gradient for every
    trainable parameter."""
    model = case.build().train()
    ids, lengths, images = case.inputs()
    loss, metrics = model.training_loss(ids, lengths, images)
    assert loss.dim() == 0 and bool(torch.isfinite(loss)), f"training_loss must be a finite scalar, got {loss}"
    assert loss.requires_grad, "training_loss is not differentiable"
    assert isinstance(metrics, dict) and all(isinstance(v, float) for v in metrics.values()), (
        f"metrics must be a dict of floats, got {metrics!r}"
    )
    loss.backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"parameter {name} gets no gradient from training_loss"
            assert bool(torch.isfinite(param.grad).all()), f"parameter {name} has a non-finite gradient"


def check_validation_metrics(case: RerankerCase) -> None:
    """``validation_metrics``: top-1 retrieval both ways, as ``k / batch`` in [0, 1]; exact for one pair."""
    model = case.build()
    ids, lengths, images = case.inputs()
    metrics = model.validation_metrics(ids, lengths, images)
    for key in ("top1_text_to_image", "top1_image_to_text"):
        assert key in metrics, f"validation_metrics lacks {key!r} (has {sorted(metrics)})"
        value = metrics[key]
        assert isinstance(value, float) and 0.0 <= value <= 1.0, f"{key} = {value!r} is not a float in [0, 1]"
        assert abs(value * case.batch - round(value * case.batch)) < 1e-6, f"{key} = {value} is not k/{case.batch}"
    one = model.validation_metrics(ids[:1], lengths[:1], images[:1])
    assert one["top1_text_to_image"] == 1.0 == one["top1_image_to_text"], "with one pair, retrieval must be exact"


def check_overfits_one_batch(case: RerankerCase, steps: int = 60) -> None:
    """A few AdamW steps on one batch of distinct pairs must drive in-batch retrieval to 100%."""
    model = case.build().train()
    ids, lengths, images = case.inputs()
    lengths = lengths.clamp(min=1)  # distinct captions
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    first = None
    for _ in range(steps):
        loss, _ = model.training_loss(ids, lengths, images)
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    metrics = model.validation_metrics(ids, lengths, images)
    assert metrics["top1_text_to_image"] == 1.0 and metrics["top1_image_to_text"] == 1.0, (
        f"after {steps} steps on one batch: {metrics} (first loss {first:.3f})"
    )


def check_bad_inputs(case: RerankerCase) -> None:
    """Mismatched batch sizes and images without the channel axis raise ``genkit.InputError``."""
    model = case.build()
    ids, lengths, images = case.inputs()
    for what, args in {
        "one image fewer than captions": (ids, lengths, images[:-1]),
        "images without the channel axis": (ids, lengths, images[:, 0]),
        "lengths of the wrong batch size": (ids, lengths[:-1], images),
    }.items():
        try:
            model.score(*args)
        except genkit.InputError:
            continue
        raise AssertionError(f"score accepted {what}; it must raise genkit.InputError")


def check_save_load_round_trip(case: RerankerCase) -> None:
    """Through ``genkit.save_component``/``load_component``: the same class, in eval mode, scoring the same."""
    model = case.build()
    with torch.no_grad():  # move off the initial weights so that a load that silently rebuilds would differ
        for param in model.parameters():
            param.add_(0.01 * torch.randn_like(param))
    ids, lengths, images = case.inputs()
    before = model.eval().score(ids, lengths, images)
    loaded = case.save_and_load(model)
    assert type(loaded) is type(model), f"loaded a {type(loaded).__name__}, saved a {type(model).__name__}"
    assert not loaded.training, "load_component must return the component in eval mode"
    after = loaded.score(ids, lengths, images)
    assert torch.equal(before, after), f"scores change through save/load: {before} vs {after}"


def _check_modules(model: torch.nn.Module, modules: Any, what: str) -> None:
    assert isinstance(modules, list) and modules, f"{what}() must return a non-empty list"
    owned = {id(m) for m in model.modules()}
    seen: set[int] = set()
    for module in modules:
        assert isinstance(module, torch.nn.Module), f"{what}() holds a {type(module).__name__}"
        assert id(module) in owned and module is not model, f"{what}() holds a module that is not a submodule"
        params = {id(p) for p in module.parameters()}
        assert params, f"{what}() holds {type(module).__name__} without parameters"
        assert not params & seen, f"{what}() holds modules that share parameters"
        seen |= params


def check_residual_blocks(case: RerankerCase) -> None:
    """``residual_blocks()`` and ``shard_units()``: non-empty lists of its own submodules with parameters,
    no two sharing one."""
    model = case.build()
    _check_modules(model, model.residual_blocks(), "residual_blocks")
    _check_modules(model, model.shard_units(), "shard_units")


class RerankerSuite(Suite):
    """The reranker checks as a test class: subclass it with ``kind`` and ``params`` (see the module docstring)."""

    role: ClassVar[str] = "reranker"
    case_type: ClassVar[type[Case]] = RerankerCase
    default_context: ClassVar[dict[str, Any]] = {"image_size": 16, "text_vocab_size": 40, "text_length": 6}
    batch: ClassVar[int] = 4

    def case_options(self, tmp_path: Path) -> dict[str, Any]:
        return {"batch": self.batch}

    def test_protocol(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_protocol, genkit_conformance)

    def test_score_shape(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_score_shape, genkit_conformance)

    def test_score_deterministic(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_score_deterministic, genkit_conformance)

    def test_score_batch_independent(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_score_batch_independent, genkit_conformance)

    def test_padding_ignored(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_padding_ignored, genkit_conformance)

    def test_inputs_unchanged(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_inputs_unchanged, genkit_conformance)

    def test_training_loss(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_training_loss, genkit_conformance)

    def test_validation_metrics(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_validation_metrics, genkit_conformance)

    def test_overfits_one_batch(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_overfits_one_batch, genkit_conformance)

    def test_bad_inputs(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_bad_inputs, genkit_conformance)

    def test_save_load_round_trip(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_save_load_round_trip, genkit_conformance)

    def test_residual_blocks(self, genkit_conformance: RerankerCase) -> None:
        self.check(check_residual_blocks, genkit_conformance)
