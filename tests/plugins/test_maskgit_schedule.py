"""The cosine masking schedule: decoding counts against the direct formula, the tie-free ``lowest`` against a sort,
the training mask ratio's distribution, and the counts the sampler actually leaves masked step by step."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit
from genkit_maskgit.schedule import lowest, masked_after, masked_counts, schedule, training_mask


@given(total=st.integers(0, 100_000), steps=st.integers(1, 256))
def test_decoding_schedule_is_the_cosine_formula_non_increasing_and_ends_at_zero(total, steps):
    counts = schedule(total, steps)
    assert len(counts) == steps and counts[-1] == 0
    direct = [math.floor(total * math.cos(math.pi / 2 * (t + 1) / steps)) for t in range(steps)]
    assert counts[:-1] == direct[:-1]  # the last is exactly 0 (in floats cos(pi/2) may come out below 0: -1)
    assert all(a >= b for a, b in zip([total, *counts], counts, strict=False))  # starts from all masked


@given(totals=st.lists(st.integers(0, 10_000), min_size=1, max_size=8), steps=st.integers(1, 64))
def test_per_row_counts_equal_the_scalar_schedule(totals, steps):
    rows = torch.tensor(totals)
    for step in range(steps):
        assert masked_counts(step, steps, rows).tolist() == [masked_after(step, steps, n) for n in totals]


@given(
    st.lists(st.lists(st.integers(0, 3), min_size=5, max_size=5), min_size=1, max_size=4),
    st.data(),
)
def test_lowest_picks_the_smallest_scores_ties_by_position(rows, data):
    scores = torch.tensor(rows, dtype=torch.float32)
    counts = torch.tensor([data.draw(st.integers(0, 5)) for _ in rows])
    picked = lowest(scores, counts)
    for b, row in enumerate(rows):
        reference = sorted(range(5), key=lambda i, row=row: (row[i], i))[: int(counts[b])]  # a plain sort
        assert sorted(torch.nonzero(picked[b]).flatten().tolist()) == sorted(reference)


def test_training_mask_ratio_follows_the_cosine_distribution():
    """``P(count <= k) = 1 - (2/pi) acos((k + 1) / N)`` for ``count = max(1, floor(N cos(pi/2 u)))``; the
    empirical CDF of 20000 draws is within a Kolmogorov-Smirnov bound of it, and every place is as likely."""
    n, draws = 16, 20_000
    mask = training_mask(draws, n, generator=torch.Generator().manual_seed(0))
    counts = mask.sum(dim=1)
    assert int(counts.min()) >= 1 and int(counts.max()) <= n
    cdf = [0.0] + [1 - 2 / math.pi * math.acos(min(1.0, (k + 1) / n)) for k in range(1, n + 1)]
    for k in range(1, n + 1):
        assert abs(float((counts <= k).float().mean()) - cdf[k]) < 0.015, k
    mean = sum(k * (cdf[k] - cdf[k - 1]) for k in range(1, n + 1))  # about N (2/pi) - 1/2: floor rounds down
    assert abs(float(counts.float().mean()) - mean) < 0.1
    per_place = mask.float().mean(dim=0)
    assert float(per_place.max() - per_place.min()) < 0.03


def _prior(steps):
    torch.manual_seed(0)
    params = genkit.make_params("prior", "maskgit", {"width": 16, "depth": 1, "heads": 2, "steps": steps})
    context = genkit.BuildContext(text_vocab_size=10, text_length=3, image_vocab_size=7, image_grid=(3, 5))
    return genkit.build_component("prior", params, context)


@costly(10)  # every example builds a prior and samples it (~10 ms)
@given(steps=st.integers(1, 20), prime_rows=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_the_sampler_leaves_the_scheduled_counts_masked(steps, prime_rows, seed):
    """What enters each forward pass: ``N`` masked tokens, then ``schedule(N, steps)`` while any is left; decided
    tokens are never masked again nor changed; the output has no [MASK] left."""
    prior = _prior(steps)
    gen = torch.Generator().manual_seed(seed)
    text = torch.randint(0, 10, (2, 3), generator=gen)
    prime = torch.randint(0, 7, (2, prime_rows, 5), generator=gen)
    seen = []
    forward = prior.hidden
    prior.hidden = lambda text_full, image: seen.append(image.clone()) or forward(text_full, image)
    out = prior.sample(text, torch.tensor([3, 1]), candidates=2, prime_ids=prime, generator=gen)
    todo = (3 - prime_rows) * 5
    expected = [n for n in [todo, *schedule(todo, steps)[:-1]] if n > 0]  # no pass once all are decided
    assert [(image == prior.mask_id).sum(dim=1).tolist() for image in seen] == [[n] * 4 for n in expected]
    final = out.flatten(1)
    for image in seen:
        decided = image != prior.mask_id
        assert torch.equal(image[decided], final[decided])
    assert int(final.max()) < 7 and int(final.min()) >= 0
