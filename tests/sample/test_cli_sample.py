"""`genkit sample` through the command-line entry, with every sampling flag (export in conftest.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from genkit.cli import main
from genkit.cli.sample import load_prime
from genkit.images import tensor_to_pil
from genkit.sample import Pipeline

PROMPTS = ["a red circle", "a small green triangle"]
ROWS = 2
FLAGS = {
    "--rows": ROWS,
    "--guidance": 1.5,
    "--top-k": 8,
    "--top-p": 0.9,
    "--temperature": 0.8,
    "--seed": 3,
    "--candidates": 4,
    "--keep": 2,
}


@pytest.fixture(scope="module")
def run_dir(export_dir, tmp_path_factory):
    """A run directory holding only the export (no recipe.resolved.yaml: built-in defaults)."""
    run = tmp_path_factory.mktemp("run")
    shutil.copytree(export_dir, run / "export")
    return run


@pytest.fixture(scope="module")
def prime_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("prime") / "prime.png"
    tensor_to_pil(torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(11))).save(path)
    return path


def sample_cli(run_dir, out, *extra) -> int:
    return main(["sample", str(run_dir), *PROMPTS, "--out", str(out), "--no-progress", *map(str, extra)])


def test_sample_with_every_flag_writes_files_keeps_the_primed_rows_and_is_reproducible(run_dir, prime_png, tmp_path):
    flags = [str(item) for pair in FLAGS.items() for item in pair]
    assert sample_cli(run_dir, tmp_path / "a.png", "--prime", prime_png, *flags) == 0

    # the grid PNG, the individual images and the scores JSON
    grid = (tmp_path / "a.png").read_bytes()
    assert grid.startswith(b"\x89PNG")
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["grid"] == "a.png"
    settings = data["settings"]
    assert {
        k: settings[k] for k in ("candidates", "keep", "temperature", "top_k", "top_p", "guidance", "seed", "rows")
    } == {
        "candidates": 4,
        "keep": 2,
        "temperature": 0.8,
        "top_k": 8,
        "top_p": 0.9,
        "guidance": 1.5,
        "seed": 3,
        "rows": ROWS,
    }
    assert settings["prime"] == str(prime_png)
    assert [entry["prompt"] for entry in data["prompts"]] == PROMPTS
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "00_a-red-circle_0.png",
        "00_a-red-circle_1.png",
        "01_a-small-green-triangle_0.png",
        "01_a-small-green-triangle_1.png",
    ]

    # the same request through the Python API: same pixels, same scores, and the primed token rows kept
    pipeline = Pipeline.from_run(run_dir)
    prime = load_prime(prime_png, pipeline.autoencoder.image_size)
    prime_rows = pipeline.prime_codes(prime, ROWS)  # Long[1, ROWS, w]
    results = pipeline.sample(
        PROMPTS,
        candidates=4,
        keep=2,
        temperature=0.8,
        top_k=8,
        top_p=0.9,
        guidance=1.5,
        seed=3,
        prime_image=prime,
        prime_rows=ROWS,
    )
    for entry, result in zip(data["prompts"], results, strict=True):
        assert [k["rank"] for k in entry["kept"]] == [0, 1] and entry["candidates"] == 4
        assert [k["candidate"] for k in entry["kept"]] == result.indices
        assert [k["score"] for k in entry["kept"]] == pytest.approx(result.scores, abs=1e-6)
        assert entry["kept"][0]["score"] >= entry["kept"][1]["score"]
        assert torch.equal(result.codes[:, :ROWS], prime_rows.expand(len(result.indices), -1, -1))
        for kept, image in zip(entry["kept"], result.images, strict=True):
            written = np.asarray(Image.open(tmp_path / kept["file"]).convert("RGB"))
            assert np.array_equal(written, np.asarray(tensor_to_pil(image)))

    # an identical invocation gives the identical grid
    assert sample_cli(run_dir, tmp_path / "b.png", "--prime", prime_png, *flags) == 0
    assert (tmp_path / "b.png").read_bytes() == grid


def test_unset_flags_come_from_the_runs_stages_sample(export_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(export_dir, run / "export")
    recipe = {
        "seed": 7,
        "stages": {
            "sample": {
                "candidates": 3,
                "keep": 2,
                "temperature": 0.5,
                "top_k": 5,
                "top_p": 0.8,
                "guidance": 0.5,
                "seed": None,
            }
        },
    }
    (run / "recipe.resolved.yaml").write_text(yaml.safe_dump(recipe))
    assert sample_cli(run, tmp_path / "d.png") == 0
    settings = json.loads((tmp_path / "d.json").read_text())["settings"]
    assert {k: settings[k] for k in ("candidates", "keep", "temperature", "top_k", "top_p", "guidance", "seed")} == {
        "candidates": 3,
        "keep": 2,
        "temperature": 0.5,
        "top_k": 5,
        "top_p": 0.8,
        "guidance": 0.5,
        "seed": 7,
    }
    assert sample_cli(run, tmp_path / "e.png", "--temperature", 0.9, "--keep", 1, "--seed", 2) == 0
    settings = json.loads((tmp_path / "e.json").read_text())["settings"]
    assert (settings["temperature"], settings["keep"], settings["seed"], settings["top_k"]) == (0.9, 1, 2, 5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--rows", "2"], "--rows needs --prime IMAGE"),
        (["--prime", "PRIME", "--rows", "4"], "--rows 4: must be between 1 and 3"),
        (["--prime", "missing.png"], "missing.png"),
        (["--candidates", "2", "--keep", "3"], "--keep 3 is more than --candidates 2"),
    ],
)
def test_bad_flags_exit_2_with_one_line(run_dir, prime_png, tmp_path, capsys, extra, message):
    extra = [
        str(prime_png) if item == "PRIME" else str(tmp_path / item) if item == "missing.png" else item for item in extra
    ]
    assert sample_cli(run_dir, tmp_path / "x.png", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
