"""The xformers backend, checked on the CPU.

xformers' CUDA kernels need a GPU. Everything around them runs here: the plan (which pieces, which biases), the
bias objects (xformers' own classes, materialised by xformers), and the autograd glue of
``xformers.ops.fmha.merge_training``. For the last, the three kernel entry points are replaced by dense torch
versions that follow their documented contracts (forward with log-sum-exp, flash-style backward from the merged
output and log-sum-exp, merge by log-sum-exp), and forward and gradients are compared with the reference.
"""

import math
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genkit.attention import AttentionLayout, ReferenceAttention
from genkit_sparse_transformer import plugin
from genkit_sparse_transformer.xformers_plan import Bias, TorchOps, attend, column_order, dense_partial, merge_by_lse

layouts = st.builds(
    AttentionLayout,
    text_length=st.integers(0, 6),
    grid=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    layer_type=st.sampled_from(["full", "row", "column", "conv"]),
    conv_kernel=st.sampled_from([1, 3, 5]),
)


def random_qkv(length: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, length, 8, generator=gen, requires_grad=True) for _ in range(3)]


def forward_and_grads(attention, q, k, v, weights):
    """Output and the gradients of ``(out * weights).sum()`` w.r.t. q, k, v."""
    out = attention(q, k, v)
    grads = torch.autograd.grad((out.double() * weights).sum(), (q, k, v))
    return out.detach(), grads


def assert_same_attention(attention, layout, seed, drop=0):
    """Same outputs and gradients as the reference on the stream's first ``layout.length - drop`` positions."""
    q, k, v = random_qkv(max(1, layout.length - drop), seed)
    weights = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    expected, expected_grads = forward_and_grads(ReferenceAttention(layout), q, k, v, weights)
    got, got_grads = forward_and_grads(attention, q, k, v, weights)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def bmhk(fn):
    return lambda q, k, v: fn(*(x.transpose(1, 2) for x in (q, k, v))).transpose(1, 2)


@given(layouts, st.integers(0, 2**16))
def test_plan_matches_dense_reference_forward_and_backward(layout, seed):
    assert_same_attention(bmhk(lambda q, k, v: attend(TorchOps, layout, q, k, v)), layout, seed)


def test_bias_semantics_follow_the_xformers_documentation():
    # LocalAttentionFromBottomRightMask(window_left=1, window_right=0): q - 1 <= k + (Mq - Mk) <= q
    local = Bias("local", window_left=1).materialize(4, 4).isfinite().int()
    assert local.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    wide = Bias("local", window_left=1).materialize(4, 5).isfinite().int()
    assert wide.tolist() == [[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]]  # s = -1
    blocks = Bias("block_causal", seqlens=(2, 3)).materialize(5, 5).isfinite().int()
    assert blocks.tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1]]
    assert column_order((2, 3)).tolist() == [0, 3, 1, 4, 2, 5]


# --- with the installed xformers (its Python side runs on the CPU; its kernels do not) ---


@pytest.fixture(scope="module")
def xformers_backend():
    pytest.importorskip("xformers.ops.fmha.merge_training")
    from genkit_sparse_transformer import xformers_backend

    return xformers_backend


@given(
    st.sampled_from(["causal", "local", "block_causal"]),
    st.integers(1, 9),
    st.integers(0, 9),
    st.lists(st.integers(1, 4), min_size=1, max_size=4),
)
def test_our_biases_are_the_ones_xformers_materialises(kind, length, window, seqlens):
    xformers_backend = pytest.importorskip("genkit_sparse_transformer.xformers_backend")
    bias = Bias(kind, window_left=window, seqlens=tuple(seqlens))
    if kind == "block_causal":
        length = sum(seqlens)
    theirs = xformers_backend.to_xformers_bias(bias).materialize((length, length))
    assert torch.equal(bias.materialize(length, length).isfinite(), theirs.isfinite())


def dense_bias(attn_bias, query, key):
    if attn_bias is None:
        return torch.zeros(())
    if isinstance(attn_bias, torch.Tensor):
        return attn_bias
    batch, queries, heads, _ = query.shape
    return attn_bias.materialize((batch, heads, queries, key.shape[1]), dtype=torch.float32, device=query.device)


def fake_partial(query, key, value, attn_bias=None, p=0.0, scale=None, *, op=None, output_dtype=None):
    """``memory_efficient_attention_partial``: no autograd of its own, output and lse ``[B, H, M]``."""
    with torch.no_grad():
        scale = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
        return dense_partial(query, key, value, dense_bias(attn_bias, query, key), scale)


def fake_backward(grad, output, lse, query, key, value, attn_bias=None, p=0.0, scale=None, *, op=None):
    """``memory_efficient_attention_backward`` as flash attention computes it, from the final output and lse."""
    scale = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
    scores = torch.einsum("bqhd,bkhd->bhqk", query, key) * scale + dense_bias(attn_bias, query, key)
    probs = (scores - lse[..., None]).exp()
    grad_value = torch.einsum("bhqk,bqhd->bkhd", probs, grad)
    grad_probs = torch.einsum("bqhd,bkhd->bhqk", grad, value)
    row_dot = (grad * output).sum(-1).transpose(1, 2)
    grad_scores = probs * (grad_probs - row_dot[..., None])
    grad_query = torch.einsum("bhqk,bkhd->bqhd", grad_scores, key) * scale
    grad_key = torch.einsum("bhqk,bqhd->bkhd", grad_scores, query) * scale
    return grad_query, grad_key, grad_value


def fake_merge(attn_split, lse_split, write_lse=True, output_dtype=None):
    with torch.no_grad():
        return merge_by_lse(attn_split, lse_split)


@pytest.fixture
def dense_xformers_kernels(xformers_backend, monkeypatch):
    from xformers.ops import fmha

    monkeypatch.setattr(fmha, "memory_efficient_attention_partial", fake_partial)
    monkeypatch.setattr(fmha, "memory_efficient_attention_backward", fake_backward)
    monkeypatch.setattr(fmha, "merge_attentions", fake_merge)
    xformers_backend.unusable_reason.cache_clear()
    yield xformers_backend
    xformers_backend.unusable_reason.cache_clear()


# dense_xformers_kernels is function-scoped: it patches the same dense kernels in once for all examples, which is
# what every example wants (nothing in it is per-example state). The profile's own suppressions (ci: too_slow) are
# kept: a list given here replaces the profile's.
@settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(layout=layouts, seed=st.integers(0, 2**16), drop=st.integers(0, 2))
def test_backend_trains_through_xformers_autograd_partials(dense_xformers_kernels, layout, seed, drop):
    # drop > 0: a prefix of the stream, as the prior passes it (its last image token is never read)
    assert_same_attention(dense_xformers_kernels.XFormersAttention(layout), layout, seed, drop)


def test_backend_is_usable_when_its_kernels_run(dense_xformers_kernels):
    assert dense_xformers_kernels.unusable_reason(torch.device("cpu"), torch.float32) is None


def test_without_kernels_for_the_device_the_backend_says_why(xformers_backend):
    xformers_backend.unusable_reason.cache_clear()
    reason = xformers_backend.unusable_reason(torch.device("cpu"), torch.float32)
    assert reason is not None and reason.startswith("full: ")


def test_selection_falls_back_to_sdpa_with_a_warning_when_xformers_cannot_run(xformers_backend):
    # torch without CUDA cannot even place the probe tensors: the hook must warn and let SDPA answer
    layout = AttentionLayout(2, (2, 2), "row")
    with pytest.warns(UserWarning, match="xformers attention cannot run on cuda"):
        assert plugin.genkit_select_attention(torch.device("cuda"), torch.float16, layout) is None


def test_backend_is_not_chosen_and_xformers_not_imported_off_cuda():
    script = (
        "import sys, torch\n"
        "from genkit.attention import AttentionLayout, select_attention\n"
        "backend = select_attention('cpu', torch.float32, AttentionLayout(2, (2, 2), 'row'))\n"
        "assert backend.name == 'sdpa', backend.name\n"
        "assert 'xformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
