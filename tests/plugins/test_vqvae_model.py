"""vqvae specifics: quantisation, straight-through gradient, EMA codebook, dead-code restart, size errors.

Two-rank (FSDP2) codebook updates are in tests/distributed/test_vqvae_codebook_sync.py."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit

SMALL = {"codebook_size": 16, "downsample": 4, "hidden": 4, "blocks_per_group": 1, "codebook_dim": 4}


def build(image_size, **overrides):
    params = genkit.make_params("autoencoder", "vqvae", {**SMALL, **overrides})
    return genkit.build_component("autoencoder", params, genkit.BuildContext(image_size=image_size))


@costly(6)  # every example builds a vqvae and runs encode and decode (~50 ms on a 2-core CPU)
@given(batch=st.integers(1, 5), side=st.integers(1, 4))
def test_odd_batches_and_allowed_sizes(batch, side):
    model = build(4 * side)
    codes = model.encode(torch.rand(batch, 3, 4 * side, 4 * side))
    assert codes.shape == (batch, side, side)
    assert model.decode(codes).shape == (batch, 3, 4 * side, 4 * side)


def test_size_not_divisible_is_one_line_error():
    with pytest.raises(genkit.InputError, match="image size 10 is not a multiple of the downsampling factor 4"):
        build(10)


def test_encode_is_the_nearest_codebook_vector():
    model = build(8)
    z_e = model.embed(torch.rand(2, 3, 8, 8)).detach()
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 4)
    expected = torch.cdist(flat, model.codebook_vectors().detach()).argmin(1).view(2, 2, 2)
    assert torch.equal(model.nearest(z_e), expected)


def test_nearest_code_is_exact_under_bf16_autocast():
    """Codes 0.05 apart on a vector of norm ~50: bf16 distances (8 bits of mantissa) cannot tell them apart, the
    fp32 search that nearest() runs under autocast does."""
    model = build(8)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.codebook.copy_(30 + 0.05 * torch.randn(16, 4, generator=generator))
    z_e = (30 + 0.05 * torch.randn(2, 4, 2, 2, generator=generator)).requires_grad_(False)
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 4).double()
    expected = torch.cdist(flat, model.codebook_vectors().detach().double()).argmin(1).view(2, 2, 2)
    book = model.codebook_vectors().detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        naive = flat.float().pow(2).sum(1, keepdim=True) - 2 * flat.float() @ book.t() + book.pow(2).sum(1)[None]
        assert not torch.equal(naive.argmin(1).view(2, 2, 2), expected)  # the case is one bf16 gets wrong
        assert torch.equal(model.nearest(z_e), expected)


def test_training_step_under_bf16_autocast_keeps_fp32_outputs_and_gradients():
    model = build(8, codebook_update="ema")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, metrics = model.training_loss(torch.rand(2, 3, 8, 8), 1)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())
    assert model.encoder.blocks.input.w.grad.abs().sum() > 0


def test_straight_through_and_codebook_gradients():
    model = build(8)
    loss, metrics = model.training_loss(torch.rand(2, 3, 8, 8), 1)
    loss.backward()
    assert model.encoder.blocks.input.w.grad.abs().sum() > 0  # reached through the quantiser
    assert model.codebook.grad is not None and model.codebook.grad.abs().sum() > 0
    assert {"commitment", "codebook_loss", "mse", "psnr"} <= set(metrics)


def test_ema_codebook_moves_without_gradient():
    model = build(8, codebook_update="ema", restart_dead_codes=False)
    assert "codebook" not in dict(model.named_parameters())  # a buffer: FSDP2 never shards or gathers it
    before = model.codebook.detach().clone()
    model.train()
    model.training_loss(torch.rand(4, 3, 8, 8), 1)
    assert not torch.equal(before, model.codebook.detach())


def test_dead_codes_restart_from_encoder_outputs():
    model = build(8, restart_every=1, dead_code_threshold=0.5)
    model.train()
    images = torch.rand(4, 3, 8, 8)
    used_before = model.encode(images).unique().numel()
    with torch.no_grad():
        model.code_usage.zero_()  # every code looks dead
    model.training_loss(images, 1)
    z_e = model.embed(images).detach().permute(0, 2, 3, 1).reshape(-1, 4)
    matched = [(torch.cdist(row[None], z_e).min() < 1e-5).item() for row in model.codebook_vectors().detach()]
    assert all(matched), "restarted codes must be copies of encoder outputs"
    assert model.encode(images).unique().numel() >= used_before


@pytest.mark.parametrize("update", ["loss", "ema"])
def test_restart_writes_no_parameter_and_gradients_still_reach_the_codebook(update):
    model = build(8, restart_every=1, dead_code_threshold=0.5, codebook_update=update)
    model.train()
    params_before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        model.code_usage.zero_()
    loss, _ = model.training_loss(torch.rand(4, 3, 8, 8), 1)
    for name, p in model.named_parameters():  # under FSDP2 a write into a gathered parameter would be lost
        assert torch.equal(p.detach(), params_before[name]), name
    if update == "loss":
        assert model.codebook_shift.abs().sum() > 0
        loss.backward()
        assert model.codebook.grad is not None and model.codebook.grad.abs().sum() > 0
    else:
        assert torch.equal(model.codebook_shift, torch.zeros_like(model.codebook_shift))


def test_checkpoint_without_a_shift_loads_as_a_zero_shift():
    model = build(8)
    state = {k: v for k, v in model.state_dict().items() if k != "codebook_shift"}
    with torch.no_grad():
        model.codebook_shift.fill_(1.0)
    model.load_state_dict(state)
    assert torch.equal(model.codebook_shift, torch.zeros_like(model.codebook_shift))


@costly(10)
@given(seed=st.integers(0, 2**16), positions=st.integers(1, 64))
def test_ema_counts_and_sums_by_index_match_the_one_hot_reference(seed, positions):
    """The EMA update's counts and sums (bincount, index_add_) equal the one-hot matmul they replace."""
    model = build(8, codebook_update="ema", restart_dead_codes=False)
    generator = torch.Generator().manual_seed(seed)
    z_e = torch.randn(1, 4, 1, positions, generator=generator)
    codes = torch.randint(0, 16, (1, 1, positions), generator=generator)
    before_count, before_sum = model.ema_count.clone(), model.ema_sum.clone()
    model._update_codebook(z_e, codes, 1)
    onehot = torch.nn.functional.one_hot(codes.reshape(-1), 16).float()
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, 4)
    decay = model.params.ema_decay
    torch.testing.assert_close(model.ema_count, before_count * decay + (1 - decay) * onehot.sum(0))
    torch.testing.assert_close(model.ema_sum, before_sum * decay + (1 - decay) * (onehot.t() @ flat))


@costly(10)
@given(seed=st.integers(0, 2**16), dim=st.integers(2, 9))
def test_rotation_trick_is_the_code_forward_and_a_scaled_rotation_backward(seed, dim):
    """``rotated(z, e)`` returns ``e``; its Jacobian in ``z`` is ``|e|/|z| R`` with the explicit Householder-pair
    rotation ``R = I - 2 r r^T + 2 q u^T`` (``u = z/|z|``, ``q = e/|e|``, ``r = (u+q)/|u+q|``): orthogonal, and it
    carries ``u`` onto ``q``."""
    from genkit_vqvae.model import rotated

    gen = torch.Generator().manual_seed(seed)
    z, e = torch.randn(dim, generator=gen, dtype=torch.float64), torch.randn(dim, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(rotated(z[None, :], e[None, :])[0], e)
    jacobian = torch.autograd.functional.jacobian(lambda v: rotated(v[None, :], e[None, :])[0], z)
    u, q = z / z.norm(), e / e.norm()
    r = (u + q) / (u + q).norm()
    rotation = torch.eye(dim, dtype=torch.float64) - 2 * torch.outer(r, r) + 2 * torch.outer(q, u)
    torch.testing.assert_close(jacobian, e.norm() / z.norm() * rotation)
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(dim, dtype=torch.float64))
    torch.testing.assert_close(rotation @ u, q)


def test_rotation_gradient_trains_and_differs_from_straight_through():
    images = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    grads = {}
    for gradient in ("straight_through", "rotation"):
        torch.manual_seed(0)
        model = build(8, gradient=gradient, codebook_update="ema")
        loss, _ = model.training_loss(images, 1)
        loss.backward()
        grads[gradient] = model.encoder.blocks.input.w.grad.clone()
    assert grads["rotation"].abs().sum() > 0
    assert not torch.allclose(grads["rotation"], grads["straight_through"])


@costly(10)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 6))
def test_log_mse_is_the_batch_mse_with_the_gradient_of_the_mean_per_image_log_error(seed, batch):
    from genkit_vqvae.model import log_mse

    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, 4, 4, generator=generator, dtype=torch.float64)
    recon = torch.rand(batch, 3, 4, 4, generator=generator, dtype=torch.float64).requires_grad_()
    value = log_mse(recon, images)
    torch.testing.assert_close(value, ((recon - images) ** 2).mean())
    (grad,) = torch.autograd.grad(value, recon)
    # the slow reference: d/d recon of mean_i log(mse_i), times the (constant) batch mse
    per_image = ((recon - images) ** 2).flatten(1).mean(1)
    (reference,) = torch.autograd.grad(per_image.mean().detach() * per_image.log().mean(), recon)
    torch.testing.assert_close(grad, reference)


def test_log_mse_weights_the_image_reconstructed_better():
    images = torch.zeros(2, 3, 4, 4)
    recon = torch.stack([torch.full((3, 4, 4), 0.1), torch.full((3, 4, 4), 0.2)]).requires_grad_()
    from genkit_vqvae.model import log_mse

    log_mse(recon, images).backward()
    plain = torch.autograd.grad(torch.nn.functional.mse_loss(recon, images), recon)[0]
    assert recon.grad is not None
    # per pixel, mse pushes by the error: the worse image (twice the error) twice as hard. log_mse pushes by
    # error / mse_i: the better image (a quarter of the mse) twice as hard.
    torch.testing.assert_close(plain[1].mean() / plain[0].mean(), torch.tensor(2.0))
    torch.testing.assert_close(recon.grad[1].mean() / recon.grad[0].mean(), torch.tensor(0.5))


def test_log_mse_training_lowers_the_error():
    torch.manual_seed(0)
    model = build(8, reconstruction_loss="log_mse", codebook_update="ema", decoder_blocks=[2, 1, 1])
    colours = torch.rand(8, 3, 1, 1, generator=torch.Generator().manual_seed(1))
    images = colours.expand(8, 3, 8, 8).clone()
    images[:, :, :4] = 1 - images[:, :, :4]  # two flat halves
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(1, 201):
        loss, metrics = model.training_loss(images, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = metrics["mse"] if first is None else first
    assert metrics["mse"] < 0.7 * first
