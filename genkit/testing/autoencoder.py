"""The conformance suite every ``autoencoder`` plugin runs (see :class:`genkit.Autoencoder` for the contract).

Use from a plugin's tests with a build function ``build(image_size) -> (component, params, context)`` (``params``
from ``genkit.make_params``, so that it carries ``kind``; ``context`` the BuildContext it was built with)::

    from genkit.testing import autoencoder as suite

    @pytest.mark.parametrize("check", suite.CHECKS)
    def test_conformance(check, tmp_path):
        suite.run_check(check, build_small, image_size=16, directory=tmp_path)

or ``suite.run_all(build_small, image_size=16, directory=tmp_path)``. Each check raises ``AssertionError`` with
a message that names the check and what differed. Components are small and run on the CPU in fp32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import genkit

Build = Callable[[int], tuple[Any, Any, Any]]


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=generator)


def _codes(component: Any, n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, component.vocab_size, (n, *component.grid), generator=generator)


def check_protocol(build: Build, image_size: int, directory: Path) -> None:
    component, params, context = build(image_size)
    assert isinstance(component, torch.nn.Module), "protocol: an autoencoder is a torch.nn.Module"
    assert isinstance(component, genkit.Autoencoder), "protocol: does not satisfy genkit.Autoencoder"
    assert component.image_size == image_size, f"protocol: image_size {component.image_size} != {image_size}"
    h, w = component.grid
    assert isinstance(h, int) and isinstance(w, int) and h >= 1 and w >= 1, f"protocol: bad grid {component.grid}"
    assert image_size % h == 0 and image_size % w == 0, f"protocol: grid {component.grid} does not divide {image_size}"
    assert isinstance(component.vocab_size, int) and component.vocab_size >= 2, (
        "protocol: vocab_size must be an int >= 2"
    )
    assert getattr(params, "kind", None), "protocol: params must carry kind (use genkit.make_params)"
    members = {id(m) for m in component.modules()}
    for name in ("residual_blocks", "shard_units"):
        modules = getattr(component, name)()
        assert isinstance(modules, list) and modules, f"protocol: {name}() must return a non-empty list"
        for module in modules:
            assert isinstance(module, torch.nn.Module) and id(module) in members, (
                f"protocol: {name}() returns a non-submodule"
            )
            assert any(True for _ in module.parameters()), f"protocol: {name}() returns a module without parameters"


def check_encode(build: Build, image_size: int, directory: Path) -> None:
    component, _, _ = build(image_size)
    images = _images(3, image_size)
    before = images.clone()
    codes = component.encode(images)
    assert torch.equal(images, before), "encode: modified its input"
    assert codes.dtype == torch.long, f"encode: dtype {codes.dtype}, expected torch.long"
    assert tuple(codes.shape) == (3, *component.grid), (
        f"encode: shape {tuple(codes.shape)}, expected (3, {component.grid})"
    )
    assert int(codes.min()) >= 0 and int(codes.max()) < component.vocab_size, "encode: codes outside [0, vocab_size)"
    assert not codes.requires_grad, "encode: must not track gradients"
    assert torch.equal(codes, component.encode(images)), "encode: not deterministic"
    component.train()
    assert torch.equal(codes, component.encode(images)), "encode: differs between train() and eval() modes"


def check_decode(build: Build, image_size: int, directory: Path) -> None:
    component, _, _ = build(image_size)
    codes = _codes(component, 3)
    before = codes.clone()
    images = component.decode(codes)
    assert torch.equal(codes, before), "decode: modified its input"
    assert tuple(images.shape) == (3, 3, image_size, image_size), f"decode: shape {tuple(images.shape)}"
    assert images.is_floating_point() and images.dtype == torch.float32, (
        f"decode: dtype {images.dtype}, expected float32"
    )
    assert torch.isfinite(images).all(), "decode: non-finite pixels"
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0, "decode: pixels outside [0, 1]"
    assert torch.equal(images, component.decode(codes)), "decode: not deterministic"
    roundtrip = component.decode(component.encode(_images(2, image_size, seed=1)))
    assert tuple(roundtrip.shape) == (2, 3, image_size, image_size), "decode(encode(x)): shape differs from x"


def check_batch_independence(build: Build, image_size: int, directory: Path) -> None:
    component, _, _ = build(image_size)
    images = _images(4, image_size, seed=2)
    codes = component.encode(images)
    for i in range(len(images)):
        single = component.encode(images[i : i + 1])[0]
        assert torch.equal(single, codes[i]), f"batch independence: encode of image {i} alone differs"
    decoded = component.decode(codes)
    for i in range(len(codes)):
        single = component.decode(codes[i : i + 1])[0]
        assert torch.allclose(single, decoded[i], atol=1e-5), f"batch independence: decode of row {i} alone differs"


def check_training_loss(build: Build, image_size: int, directory: Path) -> None:
    component, _, _ = build(image_size)
    component.train()
    loss, metrics = component.training_loss(_images(2, image_size, seed=3), 0)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, "training_loss: loss must be a scalar tensor"
    assert torch.isfinite(loss), "training_loss: loss is not finite"
    assert loss.requires_grad, "training_loss: loss has no gradient"
    assert isinstance(metrics, dict) and metrics, "training_loss: metrics must be a non-empty dict"
    for key, value in metrics.items():
        assert isinstance(value, float) and math.isfinite(value), f"training_loss: metric {key!r} is not a finite float"
    loss.backward()
    trainable = [(n, p) for n, p in component.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None]
    assert not missing, f"training_loss: no gradient reaches {missing[:3]}"
    _, later = component.training_loss(_images(2, image_size, seed=3), 10**6)
    assert isinstance(later, dict), "training_loss: must accept any step"


def check_validation_metrics(build: Build, image_size: int, directory: Path) -> None:
    component, _, _ = build(image_size)
    metrics = component.validation_metrics(_images(4, image_size, seed=4))
    for key in ("mse", "psnr", "codebook_usage", "perplexity"):
        assert key in metrics, f"validation_metrics: missing {key!r}"
    for key, value in metrics.items():
        assert isinstance(value, float) and math.isfinite(value), f"validation_metrics: {key!r} is not a finite float"
    assert 0 < metrics["codebook_usage"] <= 1, (
        f"validation_metrics: codebook_usage {metrics['codebook_usage']} not in (0, 1]"
    )
    assert 1 - 1e-6 <= metrics["perplexity"] <= component.vocab_size + 1e-6, (
        "validation_metrics: perplexity out of range"
    )
    assert metrics["mse"] >= 0, "validation_metrics: negative mse"


def check_save_load(build: Build, image_size: int, directory: Path) -> None:
    component, params, context = build(image_size)
    component.train()
    component.training_loss(_images(2, image_size, seed=5), 1)  # let stateful components (EMA, usage) move
    component.eval()
    export = Path(directory) / "export"
    genkit.save_component(export, "autoencoder", component, params, context)
    loaded = genkit.load_component(export, "autoencoder")
    images, codes = _images(2, image_size, seed=6), _codes(component, 2, seed=6)
    assert type(loaded) is type(component), "save/load: a different class came back"
    assert torch.equal(loaded.encode(images), component.encode(images)), (
        "save/load: encode differs after the round trip"
    )
    assert torch.equal(loaded.decode(codes), component.decode(codes)), "save/load: decode differs after the round trip"


def check_bad_inputs(build: Build, image_size: int, directory: Path) -> None:
    component, _, _ = build(image_size)
    factor = image_size // component.grid[0]
    if factor > 1:
        odd = image_size + factor // 2
        try:
            component.encode(torch.rand(1, 3, odd, odd))
        except genkit.InputError as exc:
            assert "\n" not in str(exc), "bad inputs: the error must be one line"
        else:
            raise AssertionError(f"bad inputs: image size {odd} (factor {factor}) did not raise genkit.InputError")
    try:
        component.decode(torch.full((1, *component.grid), component.vocab_size, dtype=torch.long))
    except genkit.InputError:
        pass
    else:
        raise AssertionError("bad inputs: a code >= vocab_size did not raise genkit.InputError")


CHECKS: dict[str, Callable[[Build, int, Path], None]] = {
    "protocol": check_protocol,
    "encode": check_encode,
    "decode": check_decode,
    "batch_independence": check_batch_independence,
    "training_loss": check_training_loss,
    "validation_metrics": check_validation_metrics,
    "save_load": check_save_load,
    "bad_inputs": check_bad_inputs,
}


def run_check(name: str, build: Build, *, image_size: int, directory: str | Path) -> None:
    """Run the check called ``name`` (a key of :data:`CHECKS`)."""
    CHECKS[name](build, image_size, Path(directory))


def run_all(build: Build, *, image_size: int, directory: str | Path) -> None:
    """Run every check in :data:`CHECKS`, in order."""
    for name in CHECKS:
        run_check(name, build, image_size=image_size, directory=Path(directory) / name)
