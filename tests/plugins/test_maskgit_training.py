"""Training reduces the masked-token loss on a tiny set (and the trained prior draws the images it learned); the
export round trip through genkit.save_component / load_component gives identical samples."""

import time

import torch

import genkit

CONTEXT = genkit.BuildContext(text_vocab_size=16, text_length=3, image_vocab_size=8, image_grid=(3, 3))


def build(**values):
    torch.manual_seed(0)
    params = genkit.make_params("prior", "maskgit", {"width": 32, "depth": 2, "heads": 2, "steps": 4, **values})
    return genkit.build_component("prior", params, CONTEXT), params


def tiny_set():
    """8 captions, each with its own fixed image: a colour per caption on a patterned background."""
    gen = torch.Generator().manual_seed(0)
    text = torch.randint(0, CONTEXT.text_vocab_size, (8, 3), generator=gen)
    lengths = torch.full((8,), 3)
    background = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    image = background.expand(8, -1, -1).clone()
    image[:, 1, 1] = torch.arange(8) % 6 + 2  # the centre says which caption
    image[:, 0, 0] = torch.arange(8) // 6 + 2
    return text, lengths, image


def test_training_reduces_the_loss_on_a_tiny_set():
    start = time.perf_counter()
    prior, _ = build(caption_dropout=0.1)
    text, lengths, image = tiny_set()
    prior.eval()
    with torch.no_grad():
        before, _ = prior.loss(text, lengths, image)
    optimizer = torch.optim.AdamW(prior.parameters(), lr=3e-3)
    prior.train()
    for _ in range(150):
        loss, metrics = prior.loss(text, lengths, image)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert metrics["text_loss"] == 0.0 and 0 < metrics["mask_ratio"] <= 1
    prior.eval()
    with torch.no_grad():
        after, _ = prior.loss(text, lengths, image)
    assert after < 0.2 * before, (float(before), float(after))
    out = prior.sample(text, lengths, top_k=1, generator=torch.Generator().manual_seed(0))
    assert (out == image).float().mean() > 0.9  # it draws what it learned
    assert time.perf_counter() - start < 20


def test_export_round_trip_gives_identical_samples(tmp_path):
    prior, params = build(init_std=0.2)
    genkit.save_component(tmp_path, "prior", prior, params, CONTEXT)
    loaded = genkit.load_component(tmp_path, "prior")
    assert type(loaded) is type(prior) and loaded.params.model_dump() == params.model_dump()
    text, lengths, image = tiny_set()
    mask = torch.rand(image.shape, generator=torch.Generator().manual_seed(1)) < 0.5
    for options in ({}, {"guidance": 2.0, "top_p": 0.9}, {"known": (image, mask), "temperature": 0.5}):
        a = prior.eval().sample(text, lengths, candidates=2, generator=torch.Generator().manual_seed(3), **options)
        b = loaded.sample(text, lengths, candidates=2, generator=torch.Generator().manual_seed(3), **options)
        assert torch.equal(a, b), options
