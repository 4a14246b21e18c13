"""The conformance suite every ``autoencoder`` plugin runs (see :class:`genkit.Autoencoder` for the contract).

Use from a plugin's tests::

    from genkit.testing import AutoencoderSuite

    class TestMyVAE(AutoencoderSuite):
        kind = "myvae"
        params = {"codebook_size": 32, "hidden": 8}
        image_size = 16  # the default

Checks (``test_*``): protocol (a ``torch.nn.Module`` satisfying the Protocol, grid dividing the image size,
residual blocks and shard units), encode, decode, batch independence, training loss (finite, a gradient for every
trainable parameter), validation metrics, the save/load round trip and bad inputs (one-line ``genkit.InputError``).
Components are small and run on the CPU in fp32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

import genkit
from genkit.testing.suite import Case, Suite


@dataclass(kw_only=True)
class AutoencoderCase(Case):
    """An autoencoder under test; ``context.image_size`` is the side of the test images."""

    role: ClassVar[str] = "autoencoder"

    @property
    def image_size(self) -> int:
        return int(self.context.require("image_size"))


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=generator)


def _codes(component: Any, n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, component.vocab_size, (n, *component.grid), generator=generator)


def check_protocol(case: AutoencoderCase) -> None:
    """A ``torch.nn.Module`` satisfying :class:`genkit.Autoencoder`: ``image_size`` from the context, a grid
    dividing it, ``vocab_size >= 2``, non-empty ``residual_blocks()``/``shard_units()`` of its own submodules."""
    image_size = case.image_size
    component = case.build()
    assert isinstance(component, torch.nn.Module), "an autoencoder is a torch.nn.Module"
    assert isinstance(component, genkit.Autoencoder), "does not satisfy genkit.Autoencoder"
    assert component.image_size == image_size, f"image_size {component.image_size} != {image_size}"
    h, w = component.grid
    assert isinstance(h, int) and isinstance(w, int) and h >= 1 and w >= 1, f"bad grid {component.grid}"
    assert image_size % h == 0 and image_size % w == 0, f"grid {component.grid} does not divide {image_size}"
    assert isinstance(component.vocab_size, int) and component.vocab_size >= 2, "vocab_size must be an int >= 2"
    assert getattr(case.params, "kind", None), "params must carry kind (use genkit.make_params)"
    members = {id(m) for m in component.modules()}
    for name in ("residual_blocks", "shard_units"):
        modules = getattr(component, name)()
        assert isinstance(modules, list) and modules, f"{name}() must return a non-empty list"
        for module in modules:
            assert isinstance(module, torch.nn.Module) and id(module) in members, f"{name}() returns a non-submodule"
            assert any(True for _ in module.parameters()), f"{name}() returns a module without parameters"


def check_encode(case: AutoencoderCase) -> None:
    """``encode``: ``long`` codes ``[B, *grid]`` in ``[0, vocab_size)``, no gradient, deterministic, the same in
    train and eval modes, input untouched."""
    image_size = case.image_size
    component = case.build()
    images = _images(3, image_size)
    before = images.clone()
    codes = component.encode(images)
    assert torch.equal(images, before), "encode modified its input"
    assert codes.dtype == torch.long, f"dtype {codes.dtype}, expected torch.long"
    assert tuple(codes.shape) == (3, *component.grid), f"shape {tuple(codes.shape)}, expected (3, {component.grid})"
    assert int(codes.min()) >= 0 and int(codes.max()) < component.vocab_size, "codes outside [0, vocab_size)"
    assert not codes.requires_grad, "must not track gradients"
    assert torch.equal(codes, component.encode(images)), "not deterministic"
    component.train()
    assert torch.equal(codes, component.encode(images)), "differs between train() and eval() modes"


def check_decode(case: AutoencoderCase) -> None:
    """``decode``: float32 images ``[B, 3, S, S]`` in ``[0, 1]``, deterministic, input untouched."""
    image_size = case.image_size
    component = case.build()
    codes = _codes(component, 3)
    before = codes.clone()
    images = component.decode(codes)
    assert torch.equal(codes, before), "decode modified its input"
    assert tuple(images.shape) == (3, 3, image_size, image_size), f"shape {tuple(images.shape)}"
    assert images.is_floating_point() and images.dtype == torch.float32, f"dtype {images.dtype}, expected float32"
    assert torch.isfinite(images).all(), "non-finite pixels"
    low, high = float(images.min()), float(images.max())
    assert low >= 0.0 and high <= 1.0, f"pixels in [{low:.3f}, {high:.3f}], outside [0, 1]"
    assert torch.equal(images, component.decode(codes)), "not deterministic"
    roundtrip = component.decode(component.encode(_images(2, image_size, seed=1)))
    assert tuple(roundtrip.shape) == (2, 3, image_size, image_size), "decode(encode(x)): shape differs from x"


def check_batch_independence(case: AutoencoderCase) -> None:
    """Encoding or decoding one item alone gives what it gives inside a batch."""
    image_size = case.image_size
    component = case.build()
    images = _images(4, image_size, seed=2)
    codes = component.encode(images)
    for i in range(len(images)):
        single = component.encode(images[i : i + 1])[0]
        assert torch.equal(single, codes[i]), f"encode of image {i} alone differs"
    decoded = component.decode(codes)
    for i in range(len(codes)):
        single = component.decode(codes[i : i + 1])[0]
        assert torch.allclose(single, decoded[i], atol=1e-5), f"decode of row {i} alone differs"


def check_training_loss(case: AutoencoderCase) -> None:
    """``training_loss(images, step)``: a finite scalar with a gradient reaching every trainable parameter,
    and a dict of finite float metrics, at any step."""
    image_size = case.image_size
    component = case.build()
    component.train()
    loss, metrics = component.training_loss(_images(2, image_size, seed=3), 0)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, "loss must be a scalar tensor"
    assert torch.isfinite(loss), "loss is not finite"
    assert loss.requires_grad, "loss has no gradient"
    assert isinstance(metrics, dict) and metrics, "metrics must be a non-empty dict"
    for key, value in metrics.items():
        assert isinstance(value, float) and math.isfinite(value), f"metric {key!r} is not a finite float"
    loss.backward()  # type: ignore[no-untyped-call, unused-ignore]  # Tensor.backward is unannotated in torch
    trainable = [(n, p) for n, p in component.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None]
    assert not missing, f"no gradient reaches {missing[:3]}"
    _, later = component.training_loss(_images(2, image_size, seed=3), 10**6)
    assert isinstance(later, dict), "must accept any step"


def check_validation_metrics(case: AutoencoderCase) -> None:
    """``validation_metrics``: finite floats including ``mse``, ``psnr``, ``codebook_usage`` in (0, 1] and
    ``perplexity`` in [1, vocab_size]."""
    image_size = case.image_size
    component = case.build()
    metrics = component.validation_metrics(_images(4, image_size, seed=4))
    for key in ("mse", "psnr", "codebook_usage", "perplexity"):
        assert key in metrics, f"missing {key!r}"
    for key, value in metrics.items():
        assert isinstance(value, float) and math.isfinite(value), f"{key!r} is not a finite float"
    assert 0 < metrics["codebook_usage"] <= 1, f"codebook_usage {metrics['codebook_usage']} not in (0, 1]"
    assert 1 - 1e-6 <= metrics["perplexity"] <= component.vocab_size + 1e-6, "perplexity out of range"
    assert metrics["mse"] >= 0, "negative mse"


def check_save_load(case: AutoencoderCase) -> None:
    """Through ``genkit.save_component``/``load_component`` (after a training step moved any state): the same
    class, encoding and decoding."""
    image_size = case.image_size
    component = case.build()
    component.train()
    component.training_loss(_images(2, image_size, seed=5), 1)  # let stateful components (EMA, usage) move
    component.eval()
    loaded = case.save_and_load(component)
    images, codes = _images(2, image_size, seed=6), _codes(component, 2, seed=6)
    assert type(loaded) is type(component), "a different class came back"
    assert torch.equal(loaded.encode(images), component.encode(images)), "encode differs after the round trip"
    assert torch.equal(loaded.decode(codes), component.decode(codes)), "decode differs after the round trip"


def check_bad_inputs(case: AutoencoderCase) -> None:
    """An image side the grid does not divide and a code ``>= vocab_size`` raise a one-line
    ``genkit.InputError``."""
    image_size = case.image_size
    component = case.build()
    factor = image_size // component.grid[0]
    if factor > 1:
        odd = image_size + factor // 2
        try:
            component.encode(torch.rand(1, 3, odd, odd))
        except genkit.InputError as exc:
            assert "\n" not in str(exc), "the error must be one line"
        else:
            raise AssertionError(f"image size {odd} (factor {factor}) did not raise genkit.InputError")
    try:
        component.decode(torch.full((1, *component.grid), component.vocab_size, dtype=torch.long))
    except genkit.InputError:
        pass
    else:
        raise AssertionError("a code >= vocab_size did not raise genkit.InputError")


class AutoencoderSuite(Suite):
    """The autoencoder checks as a test class: subclass it with ``kind`` and ``params`` (see the module docstring).
    ``image_size`` (default 16) is the side of the test images; the grid must divide it."""

    role: ClassVar[str] = "autoencoder"
    case_type: ClassVar[type[Case]] = AutoencoderCase
    image_size: ClassVar[int] = 16

    def make_context(self, tmp_path: Path) -> genkit.BuildContext:
        context = super().make_context(tmp_path)
        return context if context.image_size is not None else context.with_(image_size=self.image_size)

    def test_protocol(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_protocol, genkit_conformance)

    def test_encode(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_encode, genkit_conformance)

    def test_decode(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_decode, genkit_conformance)

    def test_batch_independence(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_batch_independence, genkit_conformance)

    def test_training_loss(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_training_loss, genkit_conformance)

    def test_validation_metrics(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_validation_metrics, genkit_conformance)

    def test_save_load(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_save_load, genkit_conformance)

    def test_bad_inputs(self, genkit_conformance: AutoencoderCase) -> None:
        self.check(check_bad_inputs, genkit_conformance)
