"""dvae objective options: the diversity loss (batch-mean KL to uniform), the gaussian reconstruction, and for the
logit-Laplace likelihood the beta-NLL scale weighting and the dequantized target."""

import math

import pytest
import torch

import genkit
from genkit_dvae.model import batch_code_kl, gaussian_nll

SMALL = {"codebook_size": 16, "downsample": 4, "hidden": 4, "blocks_per_group": 1, "codebook_dim": 4}


def build(**overrides):
    params = genkit.make_params("autoencoder", "dvae", {**SMALL, **overrides})
    return genkit.build_component("autoencoder", params, genkit.BuildContext(image_size=8))


def test_batch_code_kl_is_zero_for_even_usage_and_log_k_for_one_code():
    one_hot_per_position = torch.eye(16).reshape(1, 16, 4, 4)  # every code used once, each position confident
    assert float(batch_code_kl(torch.log(one_hot_per_position.clamp_min(1e-30)))) == pytest.approx(0.0, abs=1e-5)
    same_code = torch.full((2, 16, 2, 2), -1e4)
    same_code[:, 5] = 0.0
    assert float(batch_code_kl(torch.log_softmax(same_code, dim=1))) == pytest.approx(math.log(16), abs=1e-4)


def test_gaussian_nll_is_a_normalised_density():
    x = torch.linspace(-2, 3, 200_001)
    density = torch.exp(-gaussian_nll(x, torch.full_like(x, 0.4), 0.2))
    assert float(torch.trapezoid(density, x)) == pytest.approx(1.0, abs=1e-4)


def test_defaults_keep_the_papers_objective():
    params = genkit.make_params("autoencoder", "dvae", {})
    assert params.diversity_weight == 0.0 and params.reconstruction == "logit_laplace"
    assert params.scale_weighting == 0.0 and params.dequantize is False


def test_diversity_weight_adds_the_batch_code_kl_to_the_loss():
    images = torch.rand(3, 3, 8, 8)
    losses = []
    for weight in (0.0, 2.0):
        torch.manual_seed(0)
        model = build(diversity_weight=weight, kl_weight_end=0.0, kl_weight_steps=0)
        torch.manual_seed(0)
        loss, metrics = model.training_loss(images, 0)
        losses.append((float(loss), metrics["batch_code_kl"]))
    (plain, kl_a), (weighted, kl_b) = losses
    assert kl_a == pytest.approx(kl_b) and kl_a > 0
    assert weighted - plain == pytest.approx(2.0 * kl_a, rel=1e-4)


def test_gaussian_reconstruction_ignores_ln_b_and_trains():
    model = build(reconstruction="gaussian", gaussian_sigma=0.1)
    images = torch.rand(2, 3, 8, 8)
    torch.manual_seed(0)
    loss_a, _ = model.training_loss(images, 0)
    with torch.no_grad():  # the last 3 decoder output channels are ln b: they must not matter
        model.decoder.blocks.output.conv.b[3:] += 5.0
    torch.manual_seed(0)
    loss_b, _ = model.training_loss(images, 0)
    assert float(loss_a) == pytest.approx(float(loss_b), rel=1e-6)
    loss_b.backward()
    assert model.encoder.blocks.output.conv.w.grad.abs().sum() > 0


def test_unknown_reconstruction_is_an_input_error():
    with pytest.raises(genkit.InputError, match="reconstruction"):
        genkit.make_params("autoencoder", "dvae", {"reconstruction": "l2"})


def test_gumbel_softmax_draws_codes_with_the_softmax_probabilities():
    from genkit_dvae.model import gumbel_softmax

    torch.manual_seed(0)
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, -3.0]).view(1, 5, 1, 1).expand(20000, 5, 1, 1)
    soft = gumbel_softmax(logits, tau=0.5)
    assert torch.allclose(soft.sum(dim=1), torch.ones(20000, 1, 1))
    counts = torch.bincount(soft.argmax(dim=1).flatten(), minlength=5).float() / 20000
    expected = logits[0, :, 0, 0].softmax(dim=0)
    assert (counts - expected).abs().max() < 0.015  # Gumbel-max: argmax(logits + g) ~ softmax(logits)


def test_straight_through_gumbel_softmax_is_one_hot_with_soft_gradients():
    from genkit_dvae.model import gumbel_softmax

    logits = torch.randn(4, 7, 2, 2, requires_grad=True)
    hard = gumbel_softmax(logits, tau=1.0, hard=True)
    assert set(hard.detach().unique().tolist()) <= {0.0, 1.0} and torch.all(hard.detach().sum(dim=1) == 1)
    (hard * torch.arange(7.0).view(1, 7, 1, 1)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def _mu_and_ln_b_gradients(model, images):
    """Gradients of the loss with respect to the decoder's mu and ln b outputs (KL weight 0, fixed seed)."""
    captured = {}
    decode_stats = model.decode_stats

    def keep(z):
        mu, ln_b = decode_stats(z)
        mu.retain_grad()
        ln_b.retain_grad()
        captured.update(mu=mu, ln_b=ln_b)
        return mu, ln_b

    model.decode_stats = keep
    torch.manual_seed(0)
    loss, _ = model.training_loss(images, 1)
    loss.backward()
    return captured["mu"], captured["ln_b"]


def test_scale_weighting_one_gives_every_pixel_the_same_mean_gradient():
    """beta-NLL with weight 1: the gradient on mu is sign(mu - logit x) / N for every pixel, whatever b is; the
    plain NLL's is that divided by b."""
    images = torch.rand(2, 3, 8, 8)
    plain_mu, plain_ln_b = _mu_and_ln_b_gradients(build(kl_weight_end=0.0), images)
    mu, _ = _mu_and_ln_b_gradients(build(kl_weight_end=0.0, scale_weighting=1.0), images)
    n = mu.numel()
    assert torch.allclose(mu.grad.abs() * n, torch.ones_like(mu), atol=1e-4)
    assert torch.allclose(plain_mu.grad.abs() * n, torch.exp(-plain_ln_b.detach()), atol=1e-4)


def test_dequantize_spreads_the_target_over_one_8_bit_step(monkeypatch):
    """With dequantize the logit-Laplace target is (255 x + u) / 256, u ~ U(0, 1): within one step of x, and never
    the same value twice for a flat image (a continuous density of repeated values is unbounded)."""
    import genkit_dvae.model as dvae_model

    model = build(kl_weight_end=0.0, dequantize=True)
    flat = torch.full((2, 3, 8, 8), 1.0)
    seen = []
    real = dvae_model.logit_laplace_nll

    def spy(x, mu, ln_b):
        seen.append(x.detach().clone())
        return real(x, mu, ln_b)

    monkeypatch.setattr(dvae_model, "logit_laplace_nll", spy)
    loss, _ = model.training_loss(flat, 1)
    eps = model.params.logit_laplace_eps
    unmapped = (seen[0] - eps) / (1 - 2 * eps)
    assert torch.isfinite(loss)
    assert (unmapped >= 255 / 256 - 1e-6).all() and (unmapped <= 1.0 + 1e-6).all()
    assert unmapped.unique().numel() > 100  # spread, not one repeated value
