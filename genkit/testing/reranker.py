"""Conformance suite for ``reranker`` components (``genkit.Reranker``).

Every reranker plugin runs these checks against its component::

    from genkit.testing import reranker as suite

    @pytest.mark.parametrize("check", sorted(suite.CHECKS))
    def test_conformance(check, tmp_path):
        params = genkit.make_params("reranker", "mykind", {...small...})
        context = genkit.BuildContext(image_size=16, text_vocab_size=50, text_length=8)
        suite.CHECKS[check](suite.RerankerCase(params, context, tmp_path))

or ``suite.run_all(RerankerCase(...))``. Each check raises ``AssertionError`` with a message naming what is wrong.
The component must be registered (``save_load_round_trip`` goes through ``genkit.save_component``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import genkit


@dataclass
class RerankerCase:
    """What the checks need: validated ``params`` (with ``kind``), a ``context`` with ``image_size``,
    ``text_vocab_size`` and ``text_length``, a scratch directory, and the size of the test batch (>= 3)."""

    params: Any
    context: genkit.BuildContext
    tmp_dir: Path
    batch: int = 4
    seed: int = 0

    def build(self) -> Any:
        torch.manual_seed(self.seed)
        return genkit.build_component("reranker", self.params, self.context)

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
    model = case.build()
    assert isinstance(model, torch.nn.Module), f"{type(model).__name__} is not a torch.nn.Module"
    assert isinstance(model, genkit.Reranker), f"{type(model).__name__} does not satisfy genkit.Reranker"
    for name, tensor in model.state_dict().items():
        assert tensor.device.type == "cpu", f"build must construct on the CPU; {name} is on {tensor.device}"


def check_score_shape(case: RerankerCase) -> None:
    model = case.build()
    ids, lengths, images = case.inputs()
    scores = model.score(ids, lengths, images)
    assert isinstance(scores, torch.Tensor), f"score returned {type(scores).__name__}, not a tensor"
    assert scores.shape == (case.batch,), f"score shape {tuple(scores.shape)}, expected ({case.batch},)"
    assert scores.is_floating_point(), f"score dtype {scores.dtype} is not floating point"
    assert bool(torch.isfinite(scores).all()), f"score has non-finite values: {scores}"
    assert not scores.requires_grad and scores.grad_fn is None, "score must not build an autograd graph"


def check_score_deterministic(case: RerankerCase) -> None:
    model = case.build().eval()
    ids, lengths, images = case.inputs()
    first = model.score(ids, lengths, images)
    second = model.score(ids, lengths, images)
    assert torch.equal(first, second), f"score differs between two calls in eval mode: {first} vs {second}"
    rebuilt = case.build().eval().score(ids, lengths, images)
    assert torch.equal(first, rebuilt), "two builds under the same torch seed score differently"


def check_score_batch_independent(case: RerankerCase) -> None:
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
    model = case.build()
    ids, lengths, images = case.inputs()
    copies = (ids.clone(), lengths.clone(), images.clone())
    model.score(ids, lengths, images)
    model.training_loss(ids, lengths, images)
    model.validation_metrics(ids, lengths, images)
    for name, before, after in zip(("text_ids", "text_lengths", "images"), copies, (ids, lengths, images)):
        assert torch.equal(before, after), f"the reranker modified its input {name}"


def check_training_loss(case: RerankerCase) -> None:
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
    model = case.build()
    with torch.no_grad():  # move off the initial weights so that a load that silently rebuilds would differ
        for param in model.parameters():
            param.add_(0.01 * torch.randn_like(param))
    ids, lengths, images = case.inputs()
    before = model.eval().score(ids, lengths, images)
    export = case.tmp_dir / "export"
    genkit.save_component(export, "reranker", model, case.params, case.context)
    loaded = genkit.load_component(export, "reranker")
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
    model = case.build()
    _check_modules(model, model.residual_blocks(), "residual_blocks")
    _check_modules(model, model.shard_units(), "shard_units")


CHECKS: dict[str, Callable[[RerankerCase], None]] = {
    "protocol": check_protocol,
    "score_shape": check_score_shape,
    "score_deterministic": check_score_deterministic,
    "score_batch_independent": check_score_batch_independent,
    "padding_ignored": check_padding_ignored,
    "inputs_unchanged": check_inputs_unchanged,
    "training_loss": check_training_loss,
    "validation_metrics": check_validation_metrics,
    "overfits_one_batch": check_overfits_one_batch,
    "bad_inputs": check_bad_inputs,
    "save_load_round_trip": check_save_load_round_trip,
    "residual_blocks": check_residual_blocks,
}


def run_all(case: RerankerCase) -> None:
    """Run every check in :data:`CHECKS` against ``case``."""
    for check in CHECKS.values():
        check(case)
