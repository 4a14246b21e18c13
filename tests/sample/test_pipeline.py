"""Pipeline.sample and the files genkit sample writes, on tiny untrained real components (export_dir and
pipeline come from conftest.py)."""

from __future__ import annotations

import json

import pytest
import torch

import genkit
from genkit.sample import Pipeline, write_samples


def test_same_seed_same_pixels_and_a_new_seed_differs(pipeline):
    a = pipeline.sample(["a red circle", "a blue square"], candidates=4, keep=2, seed=1)
    b = pipeline.sample(["a red circle", "a blue square"], candidates=4, keep=2, seed=1)
    c = pipeline.sample(["a red circle", "a blue square"], candidates=4, keep=2, seed=2)
    assert all(torch.equal(x.images, y.images) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x.codes, y.codes) for x, y in zip(a, c, strict=True))


def test_kept_candidates_are_the_best_scored_in_order(pipeline):
    results = pipeline.sample(["a red circle"], candidates=6, keep=3, seed=0)
    result = results[0]
    assert result.images.shape == (3, 3, 16, 16) and result.codes.shape == (3, 4, 4)
    assert result.scores == sorted(result.scores, reverse=True)
    # rescoring every drawn candidate independently agrees with the kept order
    drawn = pipeline.sample(["a red circle"], candidates=6, keep=6, seed=0)[0]
    scores = pipeline.score(["a red circle"] * 6, drawn.images).tolist()
    assert drawn.scores == pytest.approx(sorted(scores, reverse=True), abs=1e-5)
    assert result.indices == drawn.indices[:3]
    assert torch.equal(result.first_image, drawn.images[drawn.indices.index(0)])


def test_prime_keeps_the_top_rows(pipeline):
    image = torch.rand(3, 16, 16)
    prime = pipeline.prime_codes(image, rows=2)
    result = pipeline.sample(["a red circle"], candidates=3, keep=3, seed=0, prime_image=image, prime_rows=2)[0]
    assert torch.equal(result.codes[:, :2], prime.expand(3, -1, -1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"candidates": 2, "keep": 3}, "keep=3 is more than candidates=2"),
        ({"prime_image": torch.rand(3, 16, 16), "prime_rows": 4}, "prime_rows=4"),
    ],
)
def test_bad_requests(pipeline, kwargs, message):
    with pytest.raises(genkit.InputError, match=message):
        pipeline.sample(["a red circle"], **{"candidates": 4, "keep": 2, **kwargs})


def test_chunking_covers_every_prompt(pipeline):
    prompts = [f"a red circle {i}" for i in range(5)]
    results = pipeline.sample(prompts, candidates=4, keep=1, seed=0, max_rows=8)
    assert [r.prompt for r in results] == prompts


def test_write_samples_grid_images_and_scores(pipeline, tmp_path):
    results = pipeline.sample(["a red circle", "a blue square"], candidates=4, keep=2, seed=0)
    data = write_samples(results, tmp_path / "grid.png", {"seed": 0})
    saved = json.loads((tmp_path / "grid.json").read_text())
    assert saved == data and (tmp_path / "grid.png").stat().st_size > 0
    assert [p["prompt"] for p in saved["prompts"]] == ["a red circle", "a blue square"]
    for entry in saved["prompts"]:
        assert [k["rank"] for k in entry["kept"]] == [0, 1]
        assert all((tmp_path / k["file"]).is_file() for k in entry["kept"])
        assert entry["kept"][0]["score"] >= entry["kept"][1]["score"]


def test_cli_sample_end_to_end(export_dir, tmp_path):
    import shutil

    from genkit.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(export_dir, run_dir / "export")
    code = main(
        [
            "sample",
            str(run_dir),
            "a red circle",
            "--candidates",
            "3",
            "--keep",
            "2",
            "--seed",
            "5",
            "--out",
            str(tmp_path / "s.png"),
            "--no-progress",
        ]
    )
    assert code == 0 and (tmp_path / "s.png").exists()
    first = (tmp_path / "s" / "00_a-red-circle_0.png").read_bytes()
    main(
        [
            "sample",
            str(run_dir),
            "a red circle",
            "--candidates",
            "3",
            "--keep",
            "2",
            "--seed",
            "5",
            "--out",
            str(tmp_path / "t.png"),
            "--no-progress",
        ]
    )
    assert (tmp_path / "t" / "00_a-red-circle_0.png").read_bytes() == first


def test_missing_export_is_a_clear_error(tmp_path):
    with pytest.raises(genkit.InputError, match="not a genkit export"):
        Pipeline.from_run(tmp_path)


def test_progress_counts_every_decode_step(pipeline):
    seen = []
    pipeline.sample(
        ["a red circle", "a blue square", "a cyan square"],
        candidates=2,
        keep=1,
        seed=0,
        max_rows=4,
        progress=lambda done, total: seen.append((done, total)),
    )
    steps = pipeline.autoencoder.grid[0] * pipeline.autoencoder.grid[1]
    assert seen[-1] == (2 * steps, 2 * steps)  # two chunks of prompts (4 rows each at most)
    assert [d for d, _ in seen] == list(range(1, 2 * steps + 1))
