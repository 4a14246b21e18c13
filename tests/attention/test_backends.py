"""Every CPU backend agrees with the dense reference (fp32, 1e-5) on random layouts; plugin selection."""

import torch
from hypothesis import given
from hypothesis import strategies as st

import genkit
from genkit.attention import AttentionLayout, ReferenceAttention, SDPAAttention, decode_attention, select_attention
from genkit.plugins.manager import Plugins

layouts = st.builds(
    AttentionLayout,
    text_length=st.integers(0, 7),
    grid=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    layer_type=st.sampled_from(["full", "row", "column", "conv"]),
    conv_kernel=st.sampled_from([1, 3, 5]),
)


def _qkv(layout, seed, batch=2, heads=3, dim=8):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, heads, layout.length, dim)
    return [torch.randn(shape, generator=gen) * 2 for _ in range(3)]


@given(layouts, st.integers(0, 2**16))
def test_sdpa_matches_reference(layout, seed):
    q, k, v = _qkv(layout, seed)
    expected = ReferenceAttention(layout)(q, k, v)
    torch.testing.assert_close(SDPAAttention(layout)(q, k, v), expected, atol=1e-5, rtol=1e-5)


@given(layouts, st.integers(0, 2**16), st.data())
def test_a_prefix_of_the_stream_is_the_first_rows_of_the_whole(layout, seed, data):
    q, k, v = _qkv(layout, seed)
    size = data.draw(st.integers(1, layout.length))
    whole = ReferenceAttention(layout)(q, k, v)[..., :size, :]
    for backend in (ReferenceAttention(layout), SDPAAttention(layout)):
        got = backend(q[..., :size, :], k[..., :size, :], v[..., :size, :])
        torch.testing.assert_close(got, whole, atol=1e-5, rtol=1e-5)


@given(layouts, st.integers(0, 2**16), st.data())
def test_decode_rows_match_full_attention(layout, seed, data):
    q, k, v = _qkv(layout, seed)
    start = data.draw(st.integers(0, layout.length - 1))
    stop = data.draw(st.integers(start + 1, layout.length))
    full = ReferenceAttention(layout)(q, k, v)[..., start:stop, :]
    got = decode_attention(layout, q[..., start:stop, :], k[..., :stop, :], v[..., :stop, :], start)
    torch.testing.assert_close(got, full, atol=1e-5, rtol=1e-5)


def test_builtin_plugin_answers_last_and_select_returns_a_backend():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": ""}).load()
    assert "genkit.attention.plugin" in plugins.infos
    layout = AttentionLayout(4, (3, 3), "row")
    backend = select_attention("cpu", torch.float32, layout, plugins)
    assert isinstance(backend, SDPAAttention) and backend.layout == layout

    class Custom:
        @genkit.hookimpl
        def genkit_select_attention(self, device, dtype, layout):
            return "custom" if layout.layer_type == "row" else None

    plugins.register_plugin(Custom(), "custom")
    assert select_attention("cpu", torch.float32, layout, plugins) == "custom"
    assert isinstance(
        select_attention("cpu", torch.float32, AttentionLayout(4, (3, 3), "conv"), plugins), SDPAAttention
    )
