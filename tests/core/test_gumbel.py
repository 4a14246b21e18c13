"""genkit.helpers.gumbel: Gumbel noise and Gumbel-max draws (used by the prior's sampler and the dVAE's relaxation)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from genkit.helpers.gumbel import gumbel_like, gumbel_max_sample


def test_gumbel_noise_has_the_standard_gumbel_moments():
    noise = gumbel_like(torch.empty(200_000), torch.Generator().manual_seed(0))
    assert torch.isfinite(noise).all()
    assert float(noise.mean()) == pytest.approx(0.5772, abs=0.01)  # Euler-Mascheroni
    assert float(noise.var()) == pytest.approx(math.pi**2 / 6, rel=0.02)


def test_gumbel_max_draws_follow_the_softmax_and_never_pick_masked_entries():
    logits = torch.tensor([1.5, 0.5, float("-inf"), 0.0, -1.0]).expand(40_000, 5)
    draws = gumbel_max_sample(logits, torch.Generator().manual_seed(1))
    frequencies = torch.bincount(draws, minlength=5).float() / draws.numel()
    assert frequencies[2] == 0
    assert (frequencies - logits[0].softmax(-1)).abs().max() < 0.01


@given(seed=st.integers(0, 2**31 - 1), rows=st.integers(1, 6), vocab=st.integers(1, 40))
def test_gumbel_max_draws_are_reproducible_with_a_generator(seed, rows, vocab):
    logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed))
    a = gumbel_max_sample(logits, torch.Generator().manual_seed(seed))
    b = gumbel_max_sample(logits, torch.Generator().manual_seed(seed))
    assert torch.equal(a, b) and a.shape == (rows,) and int(a.max()) < vocab
