"""The xformers backend's plan, checked on the CPU with dense ops that follow xformers' documented bias semantics
(the CUDA kernels themselves need a GPU and are not run here)."""

import sys

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genkit.attention import AttentionLayout, ReferenceAttention
from genkit_sparse_transformer import plugin
from genkit_sparse_transformer.xformers_plan import Bias, TorchOps, attend, column_order


layouts = st.builds(
    AttentionLayout,
    text_length=st.integers(0, 6),
    grid=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    layer_type=st.sampled_from(["full", "row", "column", "conv"]),
    conv_kernel=st.sampled_from([1, 3, 5]),
)


@settings(max_examples=40, deadline=None)
@given(layouts, st.integers(0, 2**16))
def test_plan_matches_dense_reference(layout, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 3, layout.length, 8, generator=gen) for _ in range(3))
    expected = ReferenceAttention(layout)(q, k, v)
    got = attend(TorchOps, layout, *(x.transpose(1, 2) for x in (q, k, v))).transpose(1, 2)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_bias_semantics_follow_the_xformers_documentation():
    # LocalAttentionFromBottomRightMask(window_left=1, window_right=0): q - 1 <= k + (Mq - Mk) <= q
    local = Bias("local", window_left=1).materialize(4, 4).isfinite().int()
    assert local.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    wide = Bias("local", window_left=1).materialize(4, 5).isfinite().int()
    assert wide.tolist() == [[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]]  # s = -1
    blocks = Bias("block_causal", seqlens=(2, 3)).materialize(5, 5).isfinite().int()
    assert blocks.tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1]]
    assert column_order((2, 3)).tolist() == [0, 3, 1, 4, 2, 5]


def test_merge_of_two_partials_is_attention_over_the_union():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 5, 3, 4, generator=gen) for _ in range(3))
    whole, _ = TorchOps.partial(q, k, v, Bias("none"))
    a = TorchOps.partial(q, k[:, :2], v[:, :2], Bias("none"))
    b = TorchOps.partial(q, k[:, 2:], v[:, 2:], Bias("none"))
    torch.testing.assert_close(TorchOps.merge([a[0], b[0]], [a[1], b[1]]), whole)


def test_backend_is_not_chosen_and_xformers_not_imported_off_cuda():
    layout = AttentionLayout(2, (2, 2), "row")
    assert plugin.genkit_select_attention(torch.device("cpu"), torch.float32, layout) is None
    assert "xformers" not in sys.modules
