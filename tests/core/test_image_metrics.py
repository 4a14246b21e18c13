"""genkit.image_metrics: PSNR, SSIM (against torchmetrics, the reference it follows) and code usage."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genkit.image_metrics import code_usage, psnr_per_image, ssim_per_image


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 2**16), noise=st.floats(0.0, 0.5), side=st.integers(11, 40), batch=st.integers(1, 3))
def test_ssim_matches_torchmetrics(seed, noise, side, batch):
    reference = pytest.importorskip("torchmetrics.functional.image").structural_similarity_index_measure
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, side, side, generator=generator)
    other = (images + noise * torch.randn(images.shape, generator=generator)).clamp(0, 1)
    expected = reference(other, images, data_range=1.0, reduction="none")
    torch.testing.assert_close(ssim_per_image(other, images), expected.float(), atol=1e-5, rtol=0)


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    images = torch.rand(2, 3, 16, 16)
    assert torch.allclose(ssim_per_image(images, images), torch.ones(2))
    noisy = (images + 0.2 * torch.randn_like(images)).clamp(0, 1)
    assert (ssim_per_image(noisy, images) < 0.9).all()
    with pytest.raises(ValueError, match="smaller than the 11-px window"):
        ssim_per_image(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_psnr_per_image():
    images = torch.zeros(2, 3, 4, 4)
    other = images.clone()
    other[0] += 0.1  # mse 0.01 -> 20 dB
    assert torch.allclose(psnr_per_image(other, images), torch.tensor([20.0, 100.0]))


def test_code_usage():
    assert code_usage(torch.tensor([5, 5, 0, 0])) == (0.5, pytest.approx(2.0))
    usage, perplexity = code_usage(torch.tensor([1, 1, 1, 1]))
    assert usage == 1.0 and perplexity == pytest.approx(4.0)
    assert code_usage(torch.zeros(3)) == (0.0, 0.0)
    assert math.isclose(code_usage(torch.tensor([9, 0, 0]))[1], 1.0)
