"""Sampling: KV cache equals recompute for every layer type, primed and unprimed; guidance; completion; seeds."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit
from genkit.helpers import filter_logits
from genkit_sparse_transformer.sampling import teacher_forced_logits


def build(layer_type, text_length=4, grid=(3, 4), seed=0):
    torch.manual_seed(seed)
    context = genkit.BuildContext(text_vocab_size=30, text_length=text_length, image_vocab_size=20, image_grid=grid)
    params = genkit.make_params(
        "prior",
        "sparse_transformer",
        {"width": 32, "depth": 2, "heads": 2, "attention": [layer_type] * 2, "conv_kernel": 3},
    )
    return genkit.build_component("prior", params, context).eval(), context


def inputs(context, n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    text = torch.randint(0, context.text_vocab_size, (n, context.text_length), generator=gen)
    lengths = torch.randint(0, context.text_length + 1, (n,), generator=gen)
    image = torch.randint(0, context.image_vocab_size, (n, *context.image_grid), generator=gen)
    return text, lengths, image


@pytest.mark.parametrize("layer_type", ["full", "row", "column", "conv"])
@pytest.mark.parametrize("prime_rows", [0, 2])
def test_cached_logits_equal_full_recompute(layer_type, prime_rows):
    prior, context = build(layer_type)
    text, lengths, image = inputs(context)
    _, full = prior(text, lengths, image)
    w = context.image_grid[1]
    cached = teacher_forced_logits(prior, text, lengths, image, prime_rows, use_cache=True)
    uncached = teacher_forced_logits(prior, text, lengths, image, prime_rows, use_cache=False)
    torch.testing.assert_close(cached, full[:, prime_rows * w :], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(uncached, full[:, prime_rows * w :], atol=1e-5, rtol=1e-5)


@costly(8)  # every example builds a prior and decodes it with the KV cache (~10 ms on a 2-core CPU)
@given(
    st.sampled_from(["full", "row", "column", "conv"]),
    st.integers(0, 5),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.data(),
)
def test_cached_logits_equal_recompute_on_random_sizes(layer_type, text_length, grid, data):
    prior, context = build(layer_type, text_length, grid)
    prime_rows = data.draw(st.integers(0, grid[0] - 1))
    text, lengths, image = inputs(context, n=data.draw(st.integers(1, 5)))  # <= 16 rows: the prepared-weight GEMM
    _, full = prior(text, lengths, image)
    cached = teacher_forced_logits(prior, text, lengths, image, prime_rows)
    torch.testing.assert_close(cached, full[:, prime_rows * grid[1] :], atol=1e-5, rtol=1e-5)


def test_cache_and_recompute_draw_the_same_samples():
    prior, context = build("row")
    text, lengths, _ = inputs(context)
    a = prior.sample(text, lengths, candidates=2, generator=torch.Generator().manual_seed(3))
    b = prior.sample(text, lengths, candidates=2, generator=torch.Generator().manual_seed(3), use_cache=False)
    assert torch.equal(a, b)


def test_seeded_and_reproducible():
    prior, context = build("column")
    text, lengths, _ = inputs(context)

    def draw(seed):
        return prior.sample(text, lengths, candidates=4, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


def test_candidates_are_grouped_by_caption():
    prior, context = build("full")
    text, lengths, _ = inputs(context)
    together = prior.sample(text, lengths, candidates=3, top_k=1)
    for b in range(2):
        alone = prior.sample(text[b : b + 1], lengths[b : b + 1], candidates=1, top_k=1)
        assert torch.equal(together[3 * b : 3 * b + 3], alone.expand(3, -1, -1))


def test_top_k_one_is_greedy_decoding():
    prior, context = build("conv")
    text, lengths, _ = inputs(context, n=1)
    out = prior.sample(text, lengths, top_k=1, temperature=5.0)
    _, logits = prior(text, lengths, out)
    assert torch.equal(logits.argmax(-1), out.flatten(1))


def test_completion_keeps_the_primed_rows_and_conditions_on_them():
    prior, context = build("row")
    text, lengths, image = inputs(context)
    out = prior.sample(text, lengths, candidates=2, prime_ids=image[:, :2], top_k=1)
    assert torch.equal(out[:, :2], image[:, :2].repeat_interleave(2, 0))
    _, logits = prior(text.repeat_interleave(2, 0), lengths.repeat_interleave(2, 0), out)
    assert torch.equal(logits[:, 8:].argmax(-1), out.flatten(1)[:, 8:])
    with pytest.raises(genkit.InputError, match="prime_ids"):
        prior.sample(text, lengths, prime_ids=image[:, :2, :3])


def test_guidance_uses_the_all_pads_caption_and_never_modifies_inputs():
    prior, context = build("full")
    text, lengths, _ = inputs(context)
    copies = text.clone(), lengths.clone()

    def seed():
        return torch.Generator().manual_seed(5)

    guided = prior.sample(text, lengths, guidance=3.0, top_k=1)  # greedy under the guided distribution
    assert torch.equal(text, copies[0]) and torch.equal(lengths, copies[1])
    _, cond = prior(text, lengths, guided)
    _, uncond = prior(text, torch.zeros_like(lengths), guided)  # the null caption: all pads
    cond, uncond = cond.log_softmax(-1), uncond.log_softmax(-1)
    assert torch.equal((cond + 3.0 * (cond - uncond)).argmax(-1), guided.flatten(1))
    assert not torch.equal(guided, prior.sample(text, lengths, top_k=1))  # and guidance does change the samples
    empty = torch.zeros_like(lengths)  # the null caption itself: guidance changes nothing
    assert torch.equal(
        prior.sample(text, empty, guidance=3.0, generator=seed()), prior.sample(text, empty, generator=seed())
    )


def test_guided_greedy_token_follows_cond_plus_g_times_difference():
    prior, context = build("row")
    text, lengths, _ = inputs(context, n=1)
    lengths = torch.tensor([context.text_length])
    g = 2.0
    out = prior.sample(text, lengths, guidance=g, top_k=1)
    _, cond = prior(text, lengths, out)
    _, uncond = prior(text, torch.zeros_like(lengths), out)
    cond, uncond = cond.log_softmax(-1), uncond.log_softmax(-1)
    assert torch.equal((cond + g * (cond - uncond)).argmax(-1), out.flatten(1))


def test_guided_passes_run_together_one_forward_per_step():
    prior, context = build("column")
    text, lengths, _ = inputs(context, n=2)
    batches = []
    hook = prior.blocks[0].register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        prior.sample(text, lengths, candidates=3, guidance=1.5)
    finally:
        hook.remove()
    h, w = context.image_grid
    # the prefill once per caption (cond and null: 2 x 2 rows, shared by the 3 candidates), then one call per
    # remaining token with every candidate, cond and null in one batch
    assert batches == [2 * 2] + [2 * 2 * 3] * (h * w - 1)


def test_filter_logits_top_k_top_p_temperature():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, 1.0, 2, None)[0, 2:]).all()
    kept = ~torch.isinf(filter_logits(logits, 1.0, None, 0.7))
    assert kept.tolist() == [[True, True, False, False]]
    kept = ~torch.isinf(filter_logits(logits, 1.0, None, 0.1))
    assert kept.tolist() == [[True, False, False, False]]
    torch.testing.assert_close(filter_logits(logits, 2.0, None, None), logits / 2)


@given(rows=st.integers(1, 5), vocab=st.integers(1, 40), steps=st.integers(1, 12), block=st.integers(1, 200))
def test_noise_drawn_in_blocks_equals_one_draw_per_step(rows, vocab, steps, block):
    """The sampler draws Gumbel noise several steps at a time; on the CPU it is the noise of per-step draws from
    the same generator, so samples do not depend on the block size."""
    from genkit.helpers.gumbel import gumbel_like
    from genkit_sparse_transformer import sampling

    original = sampling.NOISE_BLOCK_ELEMENTS
    sampling.NOISE_BLOCK_ELEMENTS = block
    try:
        stream = sampling.GumbelStream(rows, vocab, steps, torch.Generator().manual_seed(3), torch.device("cpu"))
        drawn = [stream.next() for _ in range(steps)]
    finally:
        sampling.NOISE_BLOCK_ELEMENTS = original
    reference = torch.Generator().manual_seed(3)
    for noise in drawn:
        assert torch.equal(noise, gumbel_like(torch.empty(rows, vocab), reference))


@pytest.mark.parametrize("layer_type", ["full", "row", "column", "conv"])
@pytest.mark.parametrize("prime_rows", [0, 1])
def test_a_prefill_shared_by_candidates_gives_the_same_logits(layer_type, prime_rows):
    """Candidates of a caption share their prefix: the prefill runs once per caption (``group``) and every
    decode step then sees the same caches as with one prefill per row."""
    from genkit_sparse_transformer.sampling import decode

    prior, context = build(layer_type)
    text, lengths, image = inputs(context, n=2)
    h, w = context.image_grid
    group = 3
    text_full = prior.fill_text(text, lengths).repeat_interleave(group, 0)
    truth = torch.randint(0, context.image_vocab_size, (2 * group, h * w), generator=torch.Generator().manual_seed(4))
    truth[:, : prime_rows * w] = image.flatten(1)[:, : prime_rows * w].repeat_interleave(group, 0)
    logits = {}
    for g in (1, group):
        seen = []

        def true_token(step_logits, n, seen=seen):  # this pass's list (decode calls it within the pass)
            seen.append(step_logits)
            return truth[:, n]

        filled = truth.clone()
        filled[:, prime_rows * w :] = 0
        with torch.no_grad():
            decode(prior, text_full, filled, prime_rows * w, true_token, group=g)
        assert torch.equal(filled, truth)
        logits[g] = torch.stack(seen, 1)
    torch.testing.assert_close(logits[group], logits[1], atol=1e-5, rtol=1e-5)
