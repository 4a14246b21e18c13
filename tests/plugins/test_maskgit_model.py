"""The maskgit prior: registration, params, loss on hidden tokens, pads, bidirectional attention, residual branches,
meta build."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit

CONTEXT = genkit.BuildContext(text_vocab_size=40, text_length=6, image_vocab_size=24, image_grid=(3, 4))
SMALL = {"width": 32, "depth": 2, "heads": 4}


def build(values=SMALL, context=CONTEXT):
    torch.manual_seed(0)
    params = genkit.make_params("prior", "maskgit", values)
    return genkit.build_component("prior", params, context)


def batch(context=CONTEXT, n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h, w = context.image_grid
    text = torch.randint(0, context.text_vocab_size, (n, context.text_length), generator=gen)
    lengths = torch.tensor([context.text_length, 2, 0][:n]).clamp(max=context.text_length)
    image = torch.randint(0, context.image_vocab_size, (n, h, w), generator=gen)
    return text, lengths, image


def test_registered_through_the_entry_point():
    spec = genkit.get_registry().get("prior", "maskgit")
    assert spec.owner == "maskgit"


@pytest.mark.parametrize(
    "values, key",
    [
        ({"width": 30, "heads": 4}, "width"),
        ({"steps": 0}, "steps"),
        ({"choice_temperature": -1.0}, "choice_temperature"),
        ({"caption_dropout": 1.0}, "caption_dropout"),
        ({"width": 100000, "depth": 10000, "heads": 1}, "width"),
        ({"conv_kernel": 4}, "conv_kernel"),
        ({"conv_kernel": -1}, "conv_kernel"),
    ],
)
def test_bad_params_name_the_key(values, key):
    with pytest.raises(genkit.InputError, match=key):
        genkit.make_params("prior", "maskgit", values)


def test_defaults_are_a_small_real_model():
    params = genkit.make_params("prior", "maskgit", {})
    assert (params.width, params.depth, params.heads, params.steps, params.choice_temperature) == (512, 8, 8, 12, 4.5)
    for name, field in type(params).model_fields.items():
        assert field.description, name


def test_loss_is_the_cross_entropy_of_the_hidden_tokens_averaged_per_image():
    prior = build().eval()
    text, lengths, image = batch()
    mask = torch.zeros(image.shape, dtype=torch.bool)
    mask[0, 0, :2] = True  # 2 hidden tokens
    mask[1] = True  # all 12
    mask[2, 2, 3] = True  # 1
    loss, metrics = prior.loss(text, lengths, image, mask=mask)
    logits = prior(text, lengths, image.masked_fill(mask, prior.mask_id))
    ce = F.cross_entropy(logits.flatten(0, 1), image.flatten(), reduction="none").view(3, -1)
    flat = mask.flatten(1)
    expected = torch.stack([ce[b][flat[b]].mean() for b in range(3)]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert metrics["image_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert metrics["text_loss"] == 0.0  # the masked prior does not model the caption
    assert metrics["mask_ratio"] == pytest.approx(15 / 36)
    assert logits.shape == (3, 12, CONTEXT.image_vocab_size)


def test_hidden_tokens_do_not_leak_their_ids():
    """Only the [MASK] id enters at a hidden position: what was there changes the target, not the prediction."""
    prior = build().eval()
    text, lengths, image = batch()
    mask = torch.zeros(image.shape, dtype=torch.bool)
    mask[:, 1] = True
    other = torch.where(mask, (image + 1) % CONTEXT.image_vocab_size, image)
    a = prior(text, lengths, image.masked_fill(mask, prior.mask_id))
    b = prior(text, lengths, other.masked_fill(mask, prior.mask_id))
    assert torch.equal(a, b)


def test_attention_is_bidirectional():
    """A token late in raster order changes the predictions before it (and the caption changes every one)."""
    prior = build({**SMALL, "init_std": 0.2}).eval()
    text, lengths, image = batch(n=1)
    masked = image.clone()
    masked[0, :2] = prior.mask_id
    changed = masked.clone()
    changed[0, 2, 3] = (changed[0, 2, 3] + 1) % CONTEXT.image_vocab_size
    a, b = prior(text, lengths, masked), prior(text, lengths, changed)
    assert not torch.allclose(a[0, 0], b[0, 0])
    c = prior(text, torch.zeros_like(lengths), masked)
    assert not torch.allclose(a[0, -1], c[0, -1])


def test_each_text_position_gets_its_own_pad_and_ignores_what_the_tokenizer_put_there():
    prior = build().eval()
    text, lengths, image = batch()
    full = prior.fill_text(text, lengths)
    v, t = CONTEXT.text_vocab_size, CONTEXT.text_length
    assert torch.equal(full[0], text[0])
    assert full[1, 2:].tolist() == [v + i for i in range(2, t)] and full[2].tolist() == [v + i for i in range(t)]
    garbage = text.clone()
    garbage[1, 2:] = 7
    a, _ = prior.loss(text, lengths, image)
    b, _ = prior.loss(garbage, lengths, image)
    assert torch.equal(a, b)


def test_masks_come_from_the_global_rng_in_training_and_a_fixed_generator_in_eval():
    prior = build({**SMALL, "caption_dropout": 0.0})
    text, lengths, image = batch()
    prior.eval()
    state = torch.get_rng_state()
    a, _ = prior.loss(text, lengths, image)
    assert torch.equal(state, torch.get_rng_state()), "an eval loss consumed the global RNG"
    torch.rand(5)
    b, _ = prior.loss(text, lengths, image)
    assert torch.equal(a, b)
    prior.train()
    torch.manual_seed(1)
    c, _ = prior.loss(text, lengths, image)
    torch.manual_seed(1)
    d, _ = prior.loss(text, lengths, image)
    e, _ = prior.loss(text, lengths, image)  # the RNG moved on: other masks
    assert torch.equal(c, d) and not torch.equal(c, e)


def test_caption_dropout_replaces_captions_by_pads_in_training_only():
    prior = build({**SMALL, "caption_dropout": 0.999})
    text, lengths, image = batch()
    mask = torch.rand(image.shape, generator=torch.Generator().manual_seed(1)) < 0.5
    mask[:, 0, 0] = True
    prior.eval()
    kept, _ = prior.loss(text, lengths, image, mask=mask)
    null, _ = prior.loss(text, torch.zeros_like(lengths), image, mask=mask)
    prior.train()
    dropped, _ = prior.loss(text, lengths, image, mask=mask)
    assert torch.allclose(dropped, null) and not torch.allclose(kept, null)


def test_a_mask_must_hide_a_token_of_every_image():
    prior = build()
    text, lengths, image = batch()
    mask = torch.zeros(image.shape, dtype=torch.bool)
    mask[:2, 0, 0] = True
    with pytest.raises(ValueError, match="at least one"):
        prior.loss(text, lengths, image, mask=mask)
    with pytest.raises(ValueError, match="mask"):
        prior.loss(text, lengths, image, mask=mask[:, :2])


def test_residual_branches_reproduce_the_forward_pass():
    prior = build().eval()
    text, lengths, image = batch()
    full = prior.fill_text(text, lengths)
    x = prior.embed(full, image.flatten(1))
    branches = prior.residual_blocks()
    assert len(branches) == 2 * len(prior.shard_units()) == 2 * SMALL["depth"]
    for branch in branches:
        x = x + branch(x)
    expected = prior.hidden(full, image.flatten(1))
    assert torch.allclose(prior.final_norm(x[:, CONTEXT.text_length :]), expected, atol=1e-6)


@pytest.mark.parametrize(
    "context",
    [
        genkit.BuildContext(text_vocab_size=9, text_length=0, image_vocab_size=5, image_grid=(2, 3)),
        genkit.BuildContext(text_vocab_size=9, text_length=1, image_vocab_size=5, image_grid=(1, 1)),
        genkit.BuildContext(text_vocab_size=9, text_length=3, image_vocab_size=5, image_grid=(5, 2)),
    ],
)
def test_any_text_length_and_grid(context):
    prior = build(context=context)
    text, lengths, image = batch(context, n=2)
    loss, _ = prior.loss(text, lengths, image)
    assert torch.isfinite(loss)
    out = prior.sample(text, lengths, candidates=2, guidance=1.0)
    assert out.shape == (4, *context.image_grid)


def test_builds_on_the_meta_device_without_memory():
    params = genkit.make_params("prior", "maskgit", {"width": 4096, "depth": 8, "heads": 32})
    with torch.device("meta"):
        prior = genkit.build_component("prior", params, CONTEXT)
    assert all(p.is_meta for p in prior.parameters())


def test_missing_context_is_an_input_error():
    params = genkit.make_params("prior", "maskgit", SMALL)
    with pytest.raises(genkit.InputError, match="image_grid"):
        context = genkit.BuildContext(text_vocab_size=4, text_length=2, image_vocab_size=3)
        genkit.build_component("prior", params, context)


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_conv_feed_forward_is_a_depthwise_convolution_over_the_image_grid_only(kernel):
    """With ``conv_kernel`` k, an MLP branch adds to each image position's hidden activations the k x k
    neighbourhood sum (zero outside the grid) of its channel weights; text positions are the plain MLP."""
    torch.manual_seed(1)
    prior = build({**SMALL, "conv_kernel": kernel}).eval()
    mlp = prior.blocks[0].mlp
    text_length, (h, w) = CONTEXT.text_length, CONTEXT.image_grid
    x = torch.randn(2, text_length + h * w, SMALL["width"])
    hidden = F.gelu(mlp.fc(mlp.norm(x)))
    weight, bias, r = mlp.conv.weight[:, 0], mlp.conv.bias, kernel // 2
    expected = hidden.clone()
    for i in range(h):
        for j in range(w):
            total = bias.expand(2, -1).clone()
            for di in range(-r, r + 1):
                for dj in range(-r, r + 1):
                    if 0 <= i + di < h and 0 <= j + dj < w:
                        total += hidden[:, text_length + (i + di) * w + j + dj] * weight[:, di + r, dj + r]
            expected[:, text_length + i * w + j] += total
    torch.testing.assert_close(mlp(x), mlp.proj(expected), rtol=1e-5, atol=1e-5)


def test_conv_feed_forward_makes_image_tokens_see_their_neighbours_without_attention():
    """Attention switched off (its output projection zeroed), a masked token's logits change with its neighbour's
    id with conv_kernel 3, and not with a token two cells away after one block."""
    prior = build({"width": 32, "depth": 1, "heads": 4, "conv_kernel": 3}).eval()
    with torch.no_grad():
        prior.blocks[0].attention.out.weight.zero_()
        prior.blocks[0].attention.out.bias.zero_()
    text, lengths, image = batch(n=1)
    image[0, 0, 0] = prior.mask_id
    base = prior(text, lengths, image)[0, 0]
    near, far = image.clone(), image.clone()
    near[0, 0, 1] = (image[0, 0, 1] + 1) % CONTEXT.image_vocab_size
    far[0, 0, 2] = (image[0, 0, 2] + 1) % CONTEXT.image_vocab_size
    assert not torch.allclose(prior(text, lengths, near)[0, 0], base)
    torch.testing.assert_close(prior(text, lengths, far)[0, 0], base)


@costly(8)
@given(h=st.integers(1, 4), w=st.integers(1, 4), text=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_relative_bias_depends_only_on_the_grid_offset_and_leaves_text_pairs_alone(h, w, text, seed):
    """The reference: for image tokens i, j at (yi, xi), (yj, xj), the bias is the table's entry for (yj - yi,
    xj - xi); every pair with a text token gets 0."""
    from genkit_maskgit.blocks import AttentionBranch

    branch = AttentionBranch(8, 2, grid=(h, w), relative_bias=True)
    with torch.no_grad():
        branch.bias_table.copy_(torch.randn(branch.bias_table.shape, generator=torch.Generator().manual_seed(seed)))
    bias = branch.attention_bias(text + h * w, torch.float32)
    table = branch.bias_table.view(2, 2 * h - 1, 2 * w - 1)
    for i in range(h * w):
        for j in range(h * w):
            dy, dx = j // w - i // w, j % w - i % w
            assert torch.equal(bias[:, text + i, text + j], table[:, dy + h - 1, dx + w - 1])
    assert not bias[:, :text].any() and not bias[:, :, :text].any()


def test_relative_bias_starts_at_zero_and_then_changes_the_attention():
    plain, biased = build(), build({**SMALL, "relative_bias": True})
    missing, unexpected = biased.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all("bias_table" in name for name in missing) and missing
    text, lengths, image = batch()
    torch.testing.assert_close(biased.eval()(text, lengths, image), plain.eval()(text, lengths, image))
    with torch.no_grad():
        biased.blocks[0].attention.bias_table.normal_()
    assert not torch.allclose(biased(text, lengths, image), plain(text, lengths, image))
    loss, _ = biased.train().loss(text, lengths, image)
    loss.backward()
    assert biased.blocks[0].attention.bias_table.grad.abs().sum() > 0
