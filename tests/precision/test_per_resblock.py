import math

import pytest
import torch
from toys import ToyMLP

import genkit
from genkit.precision import PerResblockScaler, make_scaler
from genkit.precision.per_resblock import BACKOFF, GROWTH, MIN_STEPS_BETWEEN_BACKOFFS


def _setup(world_size=1):
    torch.manual_seed(0)
    model = ToyMLP()
    scaler = PerResblockScaler(model.residual_blocks(), world_size=world_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, scaler, optimizer


def _step(model, scaler, optimizer, poison=None, dtype=torch.float16):
    """One step; ``poison`` = index of a residual branch whose internal gradient becomes Inf."""
    x, y = torch.randn(8, 4), torch.randn(8)
    handle = None
    if poison is not None:
        branch = model.residual_blocks()[poison]

        def inject(module, args, out):
            out.register_hook(lambda g: torch.full_like(g, math.inf))

        handle = branch.fc1.register_forward_hook(inject)
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=dtype):
        loss = ((model(x) - y) ** 2).mean()
    scaler.backward(loss)
    scaler.unscale(optimizer)
    applied = scaler.step(optimizer)
    if handle is not None:
        handle.remove()
    return applied


def test_initial_scales_and_bounds_follow_the_paper():
    _, scaler, _ = _setup(world_size=2)
    assert scaler.scales == [2 * 2.0**13] * 4
    assert (scaler.min_scale, scaler.max_scale) == (2 * 2.0**7, 2 * 2.0**24)


def test_overflow_in_one_block_skips_lowers_only_that_scale_and_keeps_weights_finite():
    model, scaler, optimizer = _setup()
    assert _step(model, scaler, optimizer)  # clean: applied, every scale grows
    grown = 2.0**13 * GROWTH
    assert scaler.scales == pytest.approx([grown] * 4, rel=1e-12)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not _step(model, scaler, optimizer, poison=2)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # update skipped
        assert torch.isfinite(value).all()
    assert scaler.scales[2] == pytest.approx(grown / BACKOFF)
    assert [s for i, s in enumerate(scaler.scales) if i != 2] == pytest.approx([grown] * 3)
    assert scaler.metrics()["skipped_steps"] == 1.0
    # another overflow within 125 steps: skipped again but no second division
    assert not _step(model, scaler, optimizer, poison=2)
    assert scaler.scales[2] == pytest.approx(grown / BACKOFF)
    # clean steps grow every scale by 2^(1/1000) again
    for _ in range(3):
        assert _step(model, scaler, optimizer)
    assert scaler.scales[2] == pytest.approx(grown / BACKOFF * GROWTH**3)
    assert scaler.scales[0] == pytest.approx(grown * GROWTH**3)
    # after 125 steps a new overflow divides again
    for _ in range(MIN_STEPS_BETWEEN_BACKOFFS):
        scaler.step(optimizer)  # clean bookkeeping steps (no gradients)
    value = scaler.scales[2]
    assert not _step(model, scaler, optimizer, poison=2)
    assert scaler.scales[2] == pytest.approx(value / BACKOFF)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_scaled_gradients_match_unscaled_ones_in_fp32():
    torch.manual_seed(0)
    reference = ToyMLP()
    model = ToyMLP()
    model.load_state_dict(reference.state_dict())
    scaler = PerResblockScaler(model.residual_blocks())
    scaler.scales = [2.0**10, 3.0, 2.0**20, 7.0]
    x, y = torch.randn(8, 4), torch.randn(8)
    ((reference(x) - y) ** 2).mean().backward()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler.backward(((model(x) - y) ** 2).mean())
    scaler.unscale(optimizer)
    for (name, p), q in zip(reference.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_scales_stay_clamped_and_state_round_trips():
    model, scaler, optimizer = _setup()
    scaler.scales = [scaler.max_scale] * 4
    assert _step(model, scaler, optimizer, dtype=torch.bfloat16)
    assert max(scaler.scales) == scaler.max_scale
    other = PerResblockScaler(ToyMLP().residual_blocks())
    other.load_state_dict(scaler.state_dict())
    assert other.scales == scaler.scales and other.skipped == scaler.skipped


def test_make_scaler_needs_declared_blocks():
    with pytest.raises(genkit.InputError, match="residual_blocks"):
        make_scaler("fp16", "per_resblock", torch.nn.Linear(2, 2), torch.device("cpu"))
    assert type(make_scaler("bf16", "per_resblock", ToyMLP(), torch.device("cpu"))).__name__ == "NoScaler"
