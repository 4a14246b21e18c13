"""The vectorised mask builder agrees with the per-pair definition; the paper schedule; layout validation."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from genkit.attention import AttentionLayout, attention_mask, pair_allowed, paper_schedule, reference_mask

layouts = st.builds(
    AttentionLayout,
    text_length=st.integers(0, 6),
    grid=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    layer_type=st.sampled_from(["full", "row", "column", "conv"]),
    conv_kernel=st.sampled_from([1, 3, 5, 11]),
)


@given(layouts)
def test_vectorised_mask_equals_per_pair_reference(layout):
    assert torch.equal(attention_mask(layout), reference_mask(layout))


def test_row_column_conv_examples_on_a_4x4_grid():
    t = 2
    row = AttentionLayout(t, (4, 4), "row")
    col = AttentionLayout(t, (4, 4), "column")
    conv = AttentionLayout(t, (4, 4), "conv", conv_kernel=3)
    q = t + 9  # image (2, 1)
    assert [k - t for k in range(t, t + 16) if pair_allowed(row, q, k)] == [5, 6, 7, 8, 9]
    assert [k - t for k in range(t, t + 16) if pair_allowed(col, q, k)] == [1, 5, 9]
    assert [k - t for k in range(t, t + 16) if pair_allowed(conv, q, k)] == [4, 5, 6, 8, 9]
    for layout in (row, col, conv):
        assert all(pair_allowed(layout, q, k) for k in range(t))  # every text key
        assert not pair_allowed(layout, 0, 1)  # text is causal


def test_full_layout_is_plain_causal():
    layout = AttentionLayout(3, (2, 3), "full")
    assert torch.equal(attention_mask(layout), torch.ones(9, 9, dtype=torch.bool).tril())


def test_paper_schedule():
    types = paper_schedule(64)
    assert types[0] == "row" and types[1] == "column" and types[5] == "column" and types[2] == "row"
    assert types[-1] == "conv" and types.count("conv") == 1
    assert types.count("column") == len([i for i in range(1, 64) if (i - 2) % 4 == 0])
    assert paper_schedule(1) == ["conv"]


@pytest.mark.parametrize(
    "kwargs", [dict(layer_type="dense"), dict(conv_kernel=4), dict(grid=(0, 3)), dict(text_length=-1)]
)
def test_bad_layouts_are_rejected(kwargs):
    base = dict(text_length=2, grid=(2, 2), layer_type="row")
    with pytest.raises(ValueError):
        AttentionLayout(**{**base, **kwargs})
