"""The sparse-transformer prior: registration, params, loss, pads, residual branches, meta build (its conformance
suite: test_sparse_transformer_conformance.py)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit

CONTEXT = genkit.BuildContext(text_vocab_size=40, text_length=6, image_vocab_size=24, image_grid=(3, 4))
SMALL = {"width": 32, "depth": 4, "heads": 4, "conv_kernel": 3}


def build(values=SMALL, context=CONTEXT):
    torch.manual_seed(0)
    params = genkit.make_params("prior", "sparse_transformer", values)
    return genkit.build_component("prior", params, context), params


def batch(context=CONTEXT, n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h, w = context.image_grid
    text = torch.randint(0, context.text_vocab_size, (n, context.text_length), generator=gen)
    lengths = torch.tensor([context.text_length, 2, 0][:n])
    image = torch.randint(0, context.image_vocab_size, (n, h, w), generator=gen)
    return text, lengths, image


def test_registered_through_the_entry_point():
    spec = genkit.get_registry().get("prior", "sparse_transformer")
    assert spec.owner == "sparse_transformer"


@pytest.mark.parametrize(
    "values, key",
    [
        ({"attention": ["row", "column"], "depth": 3}, "attention"),
        ({"width": 30, "heads": 4}, "width"),
        ({"conv_kernel": 4}, "conv_kernel"),
        ({"attention": ["diagonal"] * 8}, "attention"),
    ],
)
def test_bad_params_name_the_key(values, key):
    with pytest.raises(genkit.InputError, match=key):
        genkit.make_params("prior", "sparse_transformer", values)


def test_paper_schedule_and_layer_types():
    prior, _ = build({**SMALL, "depth": 6})
    assert [layout.layer_type for layout in prior.layouts] == ["row", "column", "row", "row", "row", "conv"]
    prior, _ = build({**SMALL, "attention": "full"})
    assert {layout.layer_type for layout in prior.layouts} == {"full"}


def test_loss_is_weighted_mean_of_per_modality_cross_entropies():
    prior, _ = build({**SMALL, "text_weight": 0.3, "image_weight": 0.7})
    prior.eval()
    text, lengths, image = batch()
    loss, metrics = prior.loss(text, lengths, image)
    text_logits, image_logits = prior(text, lengths, image)
    full_text = prior.fill_text(text, lengths)
    text_ce = F.cross_entropy(text_logits.flatten(0, 1), full_text.flatten())
    image_ce = F.cross_entropy(image_logits.flatten(0, 1), image.flatten())
    assert text_logits.shape[-1] == CONTEXT.text_vocab_size + CONTEXT.text_length
    assert image_logits.shape[-1] == CONTEXT.image_vocab_size
    assert metrics["text_loss"] == pytest.approx(text_ce.item(), rel=1e-5)
    assert metrics["image_loss"] == pytest.approx(image_ce.item(), rel=1e-5)
    assert loss.item() == pytest.approx(0.3 * text_ce.item() + 0.7 * image_ce.item(), rel=1e-5)


def test_each_text_position_gets_its_own_pad_and_ignores_what_the_tokenizer_put_there():
    prior, _ = build()
    text, lengths, _ = batch()
    full = prior.fill_text(text, lengths)
    v, t = CONTEXT.text_vocab_size, CONTEXT.text_length
    assert torch.equal(full[0], text[0])
    assert torch.equal(full[1, :2], text[1, :2]) and full[1, 2:].tolist() == [v + i for i in range(2, t)]
    assert full[2].tolist() == [v + i for i in range(t)]
    garbage = text.clone()
    garbage[1, 2:] = 7
    prior.eval()
    a, _ = prior.loss(text, lengths, batch()[2])
    b, _ = prior.loss(garbage, lengths, batch()[2])
    assert torch.equal(a, b)


def test_caption_dropout_replaces_captions_by_pads_in_training_only():
    prior, _ = build({**SMALL, "caption_dropout": 0.999})
    text, lengths, image = batch()
    prior.eval()
    kept, _ = prior.loss(text, lengths, image)
    null, _ = prior.loss(text, torch.zeros_like(lengths), image)
    prior.train()
    torch.manual_seed(0)
    dropped, _ = prior.loss(text, lengths, image)
    assert torch.allclose(dropped, null) and not torch.allclose(kept, null)


def test_residual_branches_reproduce_the_forward_pass():
    prior, _ = build()
    prior.eval()
    text, lengths, image = batch()
    x = prior.embed(prior.fill_text(text, lengths), image.flatten(1), 0, prior.sequence_length)
    branches = prior.residual_blocks()
    assert len(branches) == 2 * len(prior.shard_units())
    for branch in branches:
        x = x + branch(x)
    expected = prior.hidden(prior.fill_text(text, lengths), image.flatten(1))
    torch.testing.assert_close(prior.final_norm(x), expected)


@pytest.mark.parametrize(
    "context",
    [
        genkit.BuildContext(text_vocab_size=9, text_length=0, image_vocab_size=5, image_grid=(2, 3)),
        genkit.BuildContext(text_vocab_size=9, text_length=1, image_vocab_size=5, image_grid=(1, 1)),
        genkit.BuildContext(text_vocab_size=9, text_length=3, image_vocab_size=5, image_grid=(5, 2)),
    ],
)
def test_any_text_length_and_grid(context):
    prior, _ = build(context=context)
    text, lengths, image = batch(context, n=2)
    loss, _ = prior.loss(text, lengths.clamp(max=context.text_length), image)
    assert torch.isfinite(loss)
    out = prior.sample(text, lengths.clamp(max=context.text_length), candidates=2)
    assert out.shape == (4, *context.image_grid)


def test_builds_on_the_meta_device_without_memory():
    params = genkit.make_params("prior", "sparse_transformer", {"width": 4096, "depth": 8, "heads": 32})
    with torch.device("meta"):
        prior = genkit.build_component("prior", params, CONTEXT)
    assert all(p.is_meta for p in prior.parameters())
    assert sum(p.numel() for p in prior.parameters()) > 8 * 12 * 4096**2


def test_missing_context_is_an_input_error():
    params = genkit.make_params("prior", "sparse_transformer", SMALL)
    with pytest.raises(genkit.InputError, match="text_vocab_size"):
        genkit.build_component("prior", params, genkit.BuildContext(image_vocab_size=4, image_grid=(2, 2)))


@costly(30)  # every example builds a prior (~12 ms on a 2-core CPU; 100 would add ~1 s to this file)
@given(data=st.data())
def test_position_embeddings_of_a_span_are_rows_of_the_whole_table(data):
    prior, _ = build()
    t, (h, w) = prior.text_length, prior.grid
    table = prior.image_row.weight[:, None, :] + prior.image_column.weight[None, :, :]
    # position p carries the place of the token it reads: start and caption (T + 1), then image cells 0 .. h*w - 2
    whole = torch.cat([prior.text_position.weight, table.reshape(h * w, -1)[:-1]])
    assert whole.shape[0] == prior.sequence_length == t + h * w
    start = data.draw(st.integers(0, prior.sequence_length - 1))
    stop = data.draw(st.integers(start + 1, prior.sequence_length))
    assert torch.equal(prior.position_embeddings(start, stop), whole[start:stop])
    assert torch.equal(prior.position_embeddings(), whole)
    for p in range(prior.sequence_length):  # single positions (the decode step's shortcut for image positions)
        assert torch.equal(prior.position_embeddings(p, p + 1), whole[p : p + 1])


@given(
    st.lists(st.integers(1, 3), min_size=1, max_size=3),
    st.integers(1, 40),
    st.integers(1, 40),
    st.booleans(),
    st.booleans(),
)
def test_decode_step_linear_equals_linear_for_every_row_count(leading, in_features, out_features, bias, packed):
    from genkit_sparse_transformer import decode_linear
    from genkit_sparse_transformer.decode_linear import decode_step_linear

    if packed and not decode_linear.mkl_packed_available():
        return  # this torch build has no MKL packed GEMM: the W^T branch is the one that runs
    torch.manual_seed(0)
    layer = torch.nn.Linear(in_features, out_features, bias=bias)
    x = torch.randn(*leading, in_features, requires_grad=True)
    original = decode_linear.mkl_packed_available
    decode_linear.mkl_packed_available = lambda: packed  # both prepared-weight paths, whatever the build
    try:
        out = decode_step_linear(layer, x)
        torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)
        assert out.shape == (*leading, out_features) and out.is_contiguous()
        out.sum().backward()  # training: differentiable
        torch.testing.assert_close(x.grad, layer.weight.sum(0).expand_as(x), atol=1e-5, rtol=1e-5)
        with torch.inference_mode():  # a decode step: the prepared weight (up to 16 rows)
            decoded = decode_step_linear(layer, x.detach())
            torch.testing.assert_close(decoded, F.linear(x.detach(), layer.weight, layer.bias), atol=1e-5, rtol=1e-5)
            assert decoded.shape == (*leading, out_features)
            if x.numel() // in_features <= decode_linear.DECODE_ROWS:
                assert layer._genkit_decode_weight[0][3] is packed
            fewer = x.detach().reshape(-1, in_features)[:1]  # another row count: prepared again
            torch.testing.assert_close(
                decode_step_linear(layer, fewer), F.linear(fewer, layer.weight, layer.bias), atol=1e-5, rtol=1e-5
            )
        with torch.no_grad():  # the weight changes (an optimizer step): the prepared copy must follow
            layer.weight.mul_(-2.0)
            torch.testing.assert_close(
                decode_step_linear(layer, x.detach()),
                F.linear(x.detach(), layer.weight, layer.bias),
                atol=1e-4,
                rtol=1e-5,
            )
    finally:
        decode_linear.mkl_packed_available = original


def test_mkl_packed_gemm_is_used_where_the_build_has_it():
    from genkit_sparse_transformer.decode_linear import mkl_packed_available

    assert mkl_packed_available() == torch.backends.mkl.is_available()  # the x86 wheels ship MKL


@pytest.mark.parametrize("layer_type", ["full", "row", "column", "conv"])
def test_each_output_sees_exactly_the_tokens_its_layer_allows(layer_type):
    """One layer, model level: changing the token that position q reads changes the hidden state of exactly the
    positions whose attention row allows key q (and q itself). In particular every image token sees every text
    token, the last one included."""
    from genkit.attention import attention_mask

    prior, _ = build({**SMALL, "depth": 1, "attention": [layer_type]})
    prior.eval()
    t = prior.text_length
    text, lengths, image = batch(n=1)
    text_full, image_flat = prior.fill_text(text, lengths), image.flatten(1)
    mask = attention_mask(prior.layouts[0])[: prior.sequence_length, : prior.sequence_length]
    with torch.no_grad():
        base = prior.hidden(text_full, image_flat)[0]
        for q in range(1, prior.sequence_length):  # position q reads y[q-1]
            new_text, new_image = text_full.clone(), image_flat.clone()
            if q <= t:
                new_text[0, q - 1] = (new_text[0, q - 1] + 1) % prior.text_vocab_size
            else:
                new_image[0, q - t - 1] = (new_image[0, q - t - 1] + 1) % prior.image_vocab_size
            changed = (prior.hidden(new_text, new_image)[0] - base).abs().amax(-1) > 1e-6
            assert torch.equal(changed, mask[:, q]), (layer_type, q)
            if q <= t:  # a text token: every image position (t .. end) sees it
                assert changed[t:].all(), (layer_type, q)


@pytest.mark.parametrize("activation, approximate", [("gelu_tanh", "tanh"), ("gelu", "none")])
def test_the_mlp_activation_is_the_one_asked_for(activation, approximate):
    from genkit_sparse_transformer.sampling import teacher_forced_logits

    prior, _ = build({**SMALL, "activation": activation})
    mlp = prior.blocks[0].mlp
    x = torch.randn(2, 5, 32)
    expected = mlp.proj(F.gelu(mlp.fc(mlp.norm(x)), approximate=approximate))
    torch.testing.assert_close(mlp(x), expected, atol=0, rtol=0)
    other = F.gelu(mlp.fc(mlp.norm(x)), approximate="none" if approximate == "tanh" else "tanh")
    assert not torch.allclose(mlp.proj(other), expected, atol=1e-7, rtol=0)  # the two forms differ here
    prior.eval()
    text, lengths, image = batch()
    _, full = prior(text, lengths, image)  # the KV-cache decode uses the same activation
    torch.testing.assert_close(teacher_forced_logits(prior, text, lengths, image), full, atol=1e-5, rtol=1e-5)
    with pytest.raises(genkit.InputError, match="activation: Input should be .gelu_tanh. or .gelu."):
        genkit.make_params("prior", "sparse_transformer", {**SMALL, "activation": "relu"})
