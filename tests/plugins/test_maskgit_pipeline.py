"""The maskgit prior in genkit's sampler (genkit.sample.Pipeline): drawn, decoded, completed from primed rows, and
its progress counts the positions to generate, as the pipeline expects of any prior."""

import pytest
import torch
from tiny_export import write_tiny_export

from genkit.sample import Pipeline


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A tiny export (tokenizer trained on a few captions, autoencoder and maskgit prior untrained), loaded."""
    prior = ("maskgit", {"width": 32, "depth": 2, "heads": 2, "steps": 5})
    return Pipeline.from_export(write_tiny_export(tmp_path_factory.mktemp("export"), prior=prior, reranker=None))


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
