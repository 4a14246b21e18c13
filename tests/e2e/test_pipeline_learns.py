"""The whole system learns, end to end, in the default suite: every stage of a small recipe on the built-in shapes
data (BPE, autoencoder, sparse prior, reranker, samples), then `genkit eval` judges held-out captions with the
shapes generator's pixel checker: colour-shape-position combinations that no training image shows
(``held_out: 1``). Chance is 1/6 for colour and 1/24 for colour and shape."""

from __future__ import annotations

import json

import yaml

from genkit.cli import main

SMALL = {
    "seed": 0,
    "data": {"kind": "shapes", "size": 32, "count": 3000, "validation_count": 128, "max_shapes": 1, "held_out": 1},
    "tokenizer": {"kind": "bpe", "vocab_size": 300, "max_length": 12},
    "autoencoder": {
        "kind": "vqvae",
        "codebook_size": 128,
        "downsample": 4,
        "hidden": 16,
        "blocks_per_group": 1,
        "codebook_dim": 16,
        "codebook_update": "ema",
        "restart_every": 50,
    },
    "prior": {
        "kind": "sparse_transformer",
        "width": 64,
        "depth": 2,
        "heads": 4,
        "attention": "paper",
        "conv_kernel": 5,
    },
    "reranker": {
        "kind": "contrastive",
        "width": 48,
        "depth": 1,
        "heads": 4,
        "image_widths": [16, 32],
        "groups": 8,
        "embed_dim": 32,
    },
    "stages": {
        "autoencoder": {"steps": 300, "batch": 16, "lr": 2e-3, "validate_every": 300},
        "prior": {"steps": 400, "batch": 32, "lr": 2e-3, "warmup": 20, "validate_every": 400},
        "reranker": {"steps": 400, "batch": 64, "lr": 1e-3, "validate_every": 400},
        "sample": {
            "prompts": ["a red circle at the top left", "a blue square in the center"],
            "candidates": 8,
            "keep": 2,
            "temperature": 0.7,
        },
    },
}


def test_every_stage_runs_and_the_samples_match_their_captions(tmp_path, capsys):
    recipe = tmp_path / "small.yaml"
    recipe.write_text(yaml.safe_dump(SMALL))
    run_dir = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(run_dir)]) == 0
    assert (run_dir / "sample" / "samples.png").stat().st_size > 0
    index = json.loads((run_dir / "export" / "model_index.json").read_text())
    assert set(index) == {"tokenizer", "autoencoder", "prior", "reranker"}
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--captions", "40", "--candidates", "12"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["captions"] == 40 and report["unseen_captions"] == 1.0, report
    assert report["psnr"] > 18 and report["codebook_usage"] > 0.05 and 0.3 < report["ssim"] <= 1, report
    assert report["reranker_top1"] > 0.2  # chance: 1/64 in a batch of 64
    assert report["attributes"]["color"] >= 0.6, report  # chance 1/6
    assert report["faithfulness"] >= 0.2, report  # chance 1/24
    assert 0.1 <= report["candidates_faithful"] <= 1.0, report  # every drawn candidate judged; chance 1/24
