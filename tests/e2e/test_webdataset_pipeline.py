"""The shapes data packed into shards with `genkit data pack`, then every stage trained from the shards; and a
streamed run killed with SIGKILL mid-shard resumes to the same weights, bit for bit, as an uninterrupted one.

The SIGKILL test is slow (~55 s on 2 cores: packs 300 images, then three `genkit run` processes), so `make test-all`
runs it. By default: tests/reliability/test_kill_anywhere.py kills `genkit run` processes at random points and
resumes them bit for bit, and tests/data/test_webdataset.py resumes a stream mid-shard at the same keys in one
process."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import genkit
from genkit.cli import main as genkit_main
from genkit.images import tensor_to_pil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny import TINY_RECIPE  # noqa: E402


def pack_shapes(tmp_path: Path, count: int, size: int = 16) -> Path:
    """Draw `count` shapes items into a folder (PNG + captions.jsonl) and pack it into shards of 100."""
    folder = tmp_path / "folder"
    folder.mkdir()
    data = genkit.build_component(
        "dataset",
        genkit.make_params("dataset", "shapes", {"size": size, "count": count, "validation_count": 8, "max_shapes": 1}),
    )
    train = data.split("train")
    lines = []
    for i in range(count):
        example = train[i]
        tensor_to_pil(example.image).save(folder / f"{i:05d}.png")
        lines.append(json.dumps({"file": f"{i:05d}.png", "caption": example.caption}))
    (folder / "captions.jsonl").write_text("\n".join(lines) + "\n")
    shards = tmp_path / "shards"
    assert genkit_main(["data", "pack", str(folder), str(shards), "--per-shard", "100", "--no-progress"]) == 0
    return shards


def test_every_stage_trains_from_packed_shards(tmp_path):
    shards = pack_shapes(tmp_path, 600)
    recipe = copy.deepcopy(TINY_RECIPE)
    recipe["data"] = {
        "kind": "webdataset",
        "shards": str(shards),
        "size": 16,
        "validation_fraction": 0.1,
        "validation_size": 64,
    }
    for stage in ("autoencoder", "prior", "reranker"):
        recipe["stages"][stage].update(workers=2, log_every=1)
    from genkit.recipe.load import validate_recipe

    loaded = validate_recipe(recipe, "shards.yaml")
    from genkit.stages.pipeline import run_pipeline

    results = run_pipeline(loaded, tmp_path / "run", progress=False)
    assert set(results) == {"autoencoder", "tokenizer", "prior", "reranker"}
    for role in ("autoencoder", "tokenizer", "prior", "reranker"):
        assert (tmp_path / "run" / "export" / role / "config.json").is_file()
    lines = [json.loads(row) for row in (tmp_path / "run" / "autoencoder" / "metrics.jsonl").read_text().splitlines()]
    losses = [row["mse"] for row in lines if row["split"] == "train"]
    assert sum(losses[-5:]) < sum(losses[:5])  # it learns from the streamed shards
    assert all(0 <= row["data_wait"] <= 1 for row in lines if row["split"] == "train")
    manifest = next((tmp_path / "run" / "prior" / "tokens").iterdir()) / "train.json"
    assert len(json.loads(manifest.read_text())["parts"]) == 6  # one token shard per image shard


RESUME_RECIPE = {
    "seed": 0,
    "autoencoder": {
        "kind": "vqvae",
        "codebook_size": 64,
        "downsample": 4,
        "hidden": 32,
        "blocks_per_group": 1,
        "codebook_dim": 8,
    },
    "stages": {
        "autoencoder": {
            "steps": 36,
            "batch": 16,
            "lr": 1e-3,
            "validate_every": 100,
            "validation_batches": 1,
            "checkpoint_every": 3,
            "log_every": 1,
            "workers": 2,
            "shuffle_buffer": 20,
        }
    },
}


def _run(recipe: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "genkit.cli", "run", str(recipe), "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_mid_shard_then_resume_gives_the_same_weights(tmp_path):
    shards = pack_shapes(tmp_path, 300, size=32)
    recipe = {
        **RESUME_RECIPE,
        "data": {
            "kind": "webdataset",
            "shards": str(shards),
            "size": 32,
            "validation_fraction": 0.1,
            "validation_size": 16,
        },
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    whole = _run(path, tmp_path / "whole")
    assert whole.wait(300) == 0, whole.stdout.read()[-3000:]

    killed = _run(path, tmp_path / "killed")
    checkpoints = tmp_path / "killed" / "autoencoder" / "checkpoints"
    deadline = time.time() + 240
    while (
        not (checkpoints / "step_00000009" / "meta.json").exists() and killed.poll() is None and time.time() < deadline
    ):
        time.sleep(0.002)
    killed.send_signal(signal.SIGKILL)
    killed.wait(60)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "export" / "autoencoder").exists()  # it really stopped before the end
    newest = sorted(p for p in checkpoints.iterdir() if (p / "meta.json").exists())[-1]
    position = torch.load(newest / "extra_0.pt", weights_only=True)["data"]["positions"]
    assert any(offset > 0 for _, _, offset in position.values())  # the checkpoint is inside a shard

    resumed = _run(path, tmp_path / "killed")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output[-3000:]
    assert "resuming" in output.lower() or "step" in output
    a = (tmp_path / "whole" / "export" / "autoencoder" / "model.safetensors").read_bytes()
    b = (tmp_path / "killed" / "export" / "autoencoder" / "model.safetensors").read_bytes()
    assert a == b
    # no half-written file is left behind by the kill
    assert not list((tmp_path / "killed").rglob(".tmp*")) and not list((tmp_path / "killed").rglob("*.tmp"))
