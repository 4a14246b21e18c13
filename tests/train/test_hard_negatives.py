"""Hard negatives for the reranker: corrupted token grids (properties against a slow reference)."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from genkit.stages.hard_negatives import content_region, corrupt_tokens


def slow_content_region(grid: torch.Tensor) -> torch.Tensor:
    """Reference: tokens other than the most frequent code (ties: the smallest), grown by their 4-neighbours."""
    values, counts = grid.unique(return_counts=True)
    background = values[counts == counts.max()].min()
    h, w = grid.shape
    out = torch.zeros(h, w, dtype=torch.bool)
    for i in range(h):
        for j in range(w):
            for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if 0 <= a < h and 0 <= b < w and grid[a, b] != background:
                    out[i, j] = True
    return out


@st.composite
def token_grids(draw):
    batch, h, w = draw(st.integers(1, 3)), draw(st.integers(2, 6)), draw(st.integers(2, 6))
    vocab = draw(st.integers(2, 9))
    seed = draw(st.integers(0, 2**31 - 1))
    grids = torch.randint(0, vocab, (batch, h, w), generator=torch.Generator().manual_seed(seed))
    # mostly one background code, like a rendered image
    keep = torch.rand(batch, h, w, generator=torch.Generator().manual_seed(seed + 1)) < draw(st.floats(0.0, 1.0))
    return torch.where(keep, grids, torch.zeros_like(grids)), vocab


@given(token_grids())
def test_content_region_matches_a_slow_reference(case):
    grids, _ = case
    region = content_region(grids)
    for b in range(grids.shape[0]):
        values, counts = grids[b].unique(return_counts=True)
        if (counts == counts.max()).sum() > 1:
            continue  # torch.mode's choice among tied codes is unspecified
        assert torch.equal(region[b], slow_content_region(grids[b])), grids[b]


@given(token_grids(), st.integers(1, 3), st.integers(1, 3), st.integers(0, 1000))
def test_corrupted_copies_change_exactly_the_asked_tokens(case, copies, replaced, seed):
    grids, vocab = case
    h, w = grids.shape[1:]
    replaced = min(replaced, h * w)
    out = corrupt_tokens(grids, copies, replaced, vocab, torch.Generator().manual_seed(seed))
    again = corrupt_tokens(grids, copies, replaced, vocab, torch.Generator().manual_seed(seed))
    assert out.shape == (grids.shape[0], copies, h, w) and torch.equal(out, again)
    assert int(out.min()) >= 0 and int(out.max()) < vocab
    region = content_region(grids)
    for b in range(grids.shape[0]):
        codes = set(grids[b].flatten().tolist())
        for k in range(copies):
            changed = out[b, k] != grids[b]
            assert 1 <= int(changed.sum()) <= replaced  # a later draw may not revert an earlier one
            if int(region[b].sum()) >= replaced:
                assert bool(region[b][changed].all())  # only on or next to the content
            if len(codes) > 1:
                assert set(out[b, k][changed].tolist()) <= codes  # codes of the same grid


def test_a_reranker_without_hard_negative_support_gets_a_one_line_error():
    import pytest

    from genkit.errors import InputError
    from genkit.stages.reranker import check_takes_negatives

    class Plain:
        def training_loss(self, text_ids, text_lengths, images):
            raise AssertionError("not called")

    class Hard:
        def training_loss(self, text_ids, text_lengths, images, negatives=None):
            raise AssertionError("not called")

    check_takes_negatives(Hard(), "mine")
    with pytest.raises(InputError, match=r"stages.reranker.hard_negatives: reranker kind 'mine' does not take"):
        check_takes_negatives(Plain(), "mine")
