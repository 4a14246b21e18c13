"""The maskgit prior in genkit's sampler (genkit.sample.Pipeline): drawn, decoded, completed from primed rows, and
its progress counts the positions to generate, as the pipeline expects of any prior."""

import pytest
import torch

import genkit
from genkit.sample import Pipeline

CAPTIONS = ["a red circle", "a blue square at the top left", "a small green triangle", "a yellow diamond"] * 4


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A tiny export (tokenizer trained on a few captions, autoencoder and maskgit prior untrained), loaded."""
    out = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    context = genkit.BuildContext(image_size=16)
    specs = {
        "tokenizer": ("bpe", {"vocab_size": 300, "max_length": 12}),
        "autoencoder": (
            "dvae",
            {"codebook_size": 32, "downsample": 4, "hidden": 16, "codebook_dim": 16, "blocks_per_group": 1},
        ),
        "prior": ("maskgit", {"width": 32, "depth": 2, "heads": 2, "steps": 5}),
    }
    for role, (kind, values) in specs.items():
        params = genkit.make_params(role, kind, values)
        component = genkit.build_component(role, params, context)
        if role == "tokenizer":
            component.train(CAPTIONS)
            context = context.with_(text_vocab_size=component.vocab_size, text_length=component.max_length)
        if role == "autoencoder":
            context = context.with_(image_vocab_size=component.vocab_size, image_grid=tuple(component.grid))
        genkit.save_component(out, role, component, params, context)
    return Pipeline.from_export(out)


def test_samples_completions_and_progress_through_the_pipeline(pipeline):
    calls = []
    results = pipeline.sample(
        ["a red circle", "a yellow diamond"],
        candidates=3,
        keep=2,
        guidance=1.0,
        seed=1,
        progress=lambda *a: calls.append(a),
    )
    assert [r.images.shape for r in results] == [(2, 3, 16, 16)] * 2
    assert all(int(r.codes.max()) < 32 for r in results)
    assert len(calls) == 5 and calls[-1] == (16, 16)  # 5 steps, the 4x4 positions of one chunk
    again = pipeline.sample(["a red circle", "a yellow diamond"], candidates=3, keep=2, guidance=1.0, seed=1)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(results, again, strict=True))
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    primed = pipeline.sample(["a small green triangle"], candidates=2, keep=2, prime_image=image, prime_rows=2)
    rows = pipeline.prime_codes(image, 2)
    assert torch.equal(primed[0].codes[:, :2], rows.expand(2, -1, -1))
