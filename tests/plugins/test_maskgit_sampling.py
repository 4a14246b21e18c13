"""Parallel decoding: given tokens kept (primed rows, inpainting) and every masked one filled; guidance; greedy
one-step decoding equals the forward pass; candidates; reproducibility; forward passes per image; bad inputs."""

import pytest
import torch

import genkit

CONTEXT = genkit.BuildContext(text_vocab_size=30, text_length=4, image_vocab_size=20, image_grid=(3, 4))


def build(steps=6, seed=0, **values):
    torch.manual_seed(seed)
    params = genkit.make_params(
        "prior", "maskgit", {"width": 32, "depth": 2, "heads": 2, "steps": steps, "init_std": 0.2, **values}
    )
    return genkit.build_component("prior", params, CONTEXT).eval()


def inputs(n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    text = torch.randint(0, CONTEXT.text_vocab_size, (n, CONTEXT.text_length), generator=gen)
    lengths = torch.tensor([CONTEXT.text_length, 1, 3, 0][:n])
    image = torch.randint(0, CONTEXT.image_vocab_size, (n, *CONTEXT.image_grid), generator=gen)
    return text, lengths, image


def seeded(seed=5):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("prime_rows", [0, 1, 2, 3])
@pytest.mark.parametrize("options", [{}, {"top_k": 3, "temperature": 0.6}, {"top_p": 0.8, "guidance": 2.0}])
def test_primed_rows_are_kept_and_every_masked_token_is_filled(prime_rows, options):
    prior = build()
    text, lengths, image = inputs()
    out = prior.sample(text, lengths, candidates=3, prime_ids=image[:, :prime_rows], generator=seeded(), **options)
    assert out.shape == (6, *CONTEXT.image_grid) and out.dtype == torch.long
    assert torch.equal(out[:, :prime_rows], image[:, :prime_rows].repeat_interleave(3, 0))
    assert int(out.min()) >= 0 and int(out.max()) < CONTEXT.image_vocab_size  # no [MASK] id left


def test_inpainting_keeps_the_given_region_bit_for_bit_and_inputs_are_unchanged():
    prior = build()
    text, lengths, image = inputs(n=3)
    mask = torch.rand(image.shape, generator=seeded(1)) < 0.4
    mask[2] = True  # everything given: returned as is
    ids = image.clone()
    ids[~mask] = -7  # what is not given is never read
    before = [t.clone() for t in (text, lengths, ids, mask)]
    out = prior.sample(text, lengths, candidates=2, known=(ids, mask), guidance=1.5, top_k=5, generator=seeded())
    keep = mask.repeat_interleave(2, 0)
    assert torch.equal(out[keep], image.repeat_interleave(2, 0)[keep])
    assert int(out.min()) >= 0 and int(out.max()) < CONTEXT.image_vocab_size
    for old, new in zip(before, (text, lengths, ids, mask), strict=True):
        assert torch.equal(old, new)
    primed = prior.sample(text, lengths, prime_ids=image[:, :1], known=(ids, mask), generator=seeded())
    both = mask.clone()
    both[:, 0] = True
    assert torch.equal(primed[both], image[both])


def test_everything_given_needs_no_forward_pass():
    prior = build()
    text, lengths, image = inputs()
    calls = []
    hook = prior.blocks[0].register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        out = prior.sample(text, lengths, candidates=2, prime_ids=image)
    finally:
        hook.remove()
    assert calls == [] and torch.equal(out, image.repeat_interleave(2, 0))


def test_one_step_greedy_decoding_is_the_argmax_of_one_forward_pass():
    prior = build(steps=1)
    text, lengths, _ = inputs()
    out = prior.sample(text, lengths, top_k=1, generator=seeded())
    empty = torch.full((2, *CONTEXT.image_grid), prior.mask_id)
    assert torch.equal(prior(text, lengths, empty).argmax(-1), out.flatten(1))


def test_guided_draws_follow_cond_plus_g_times_difference_with_the_all_pads_caption():
    prior = build(steps=1)
    text, lengths, _ = inputs()
    g = 2.5
    out = prior.sample(text, lengths, guidance=g, top_k=1)
    empty = torch.full((2, *CONTEXT.image_grid), prior.mask_id)
    cond = prior(text, lengths, empty).log_softmax(-1)
    uncond = prior(text, torch.zeros_like(lengths), empty).log_softmax(-1)
    assert torch.equal((cond + g * (cond - uncond)).argmax(-1), out.flatten(1))


def test_guidance_changes_the_samples():
    prior = build()
    text, lengths, _ = inputs()
    plain = prior.sample(text, lengths, candidates=4, guidance=0.0, generator=seeded())
    guided = prior.sample(text, lengths, candidates=4, guidance=3.0, generator=seeded())
    assert not torch.equal(plain, guided)


def test_seeded_reproducible_and_seeds_differ():
    prior = build()
    text, lengths, _ = inputs()
    draw = lambda seed: prior.sample(text, lengths, candidates=4, generator=seeded(seed))  # noqa: E731
    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


def test_candidates_are_grouped_by_caption():
    """Greedy tokens and no choice noise: each candidate is the caption's one deterministic sample."""
    prior = build(choice_temperature=0.0)
    text, lengths, _ = inputs()
    together = prior.sample(text, lengths, candidates=3, top_k=1)
    for b in range(2):
        alone = prior.sample(text[b : b + 1], lengths[b : b + 1], candidates=1, top_k=1)
        assert torch.equal(together[3 * b : 3 * b + 3], alone.expand(3, -1, -1))


def test_one_forward_pass_per_step_guided_rows_in_the_same_batch_and_progress_per_step():
    prior = build(steps=5)
    text, lengths, _ = inputs()
    batches, calls = [], []
    hook = prior.blocks[0].register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        prior.sample(text, lengths, candidates=3, guidance=1.5, progress=lambda *args: calls.append(args))
    finally:
        hook.remove()
    assert prior.passes_per_image == 5
    assert batches == [2 * 2 * 3] * prior.passes_per_image  # every candidate, cond and null, in one batch per step
    n = 12
    assert calls == [(n - m, n) for m in (11, 9, 7, 3, 0)]  # floor(12 cos(pi/2 t/5)), t = 1..5


def test_steps_can_be_given_per_call():
    prior = build(steps=6)
    text, lengths, _ = inputs()
    passes = []
    hook = prior.blocks[0].register_forward_pre_hook(lambda module, args: passes.append(1))
    try:
        prior.sample(text, lengths, steps=2)
    finally:
        hook.remove()
    assert len(passes) == 2


def test_sampling_leaves_training_mode_as_it_was():
    prior = build().train()
    text, lengths, _ = inputs()
    prior.sample(text, lengths)
    assert prior.training


@pytest.mark.parametrize(
    "options, match",
    [
        ({"prime_ids": torch.zeros(2, 2, 3, dtype=torch.long)}, "prime_ids"),
        ({"known": (torch.zeros(2, 3, 4, dtype=torch.long), torch.ones(2, 3, 4))}, "known"),
        ({"known": torch.zeros(2, 3, 4, dtype=torch.long)}, "known"),
        ({"known": (torch.full((2, 3, 4), 20), torch.ones(2, 3, 4, dtype=torch.bool))}, r"\[0, 20\)"),
        (
            {
                "prime_ids": torch.zeros(2, 1, 4, dtype=torch.long),
                "known": (torch.ones(2, 3, 4, dtype=torch.long), torch.ones(2, 3, 4, dtype=torch.bool)),
            },
            "different",
        ),
        ({"candidates": 0}, "candidates"),
        ({"top_p": 0.0}, "top_p"),
        ({"steps": 0}, "steps"),
    ],
)
def test_bad_inputs_are_one_line_input_errors(options, match):
    prior = build()
    text, lengths, _ = inputs()
    with pytest.raises(genkit.InputError, match=match):
        prior.sample(text, lengths, **options)
