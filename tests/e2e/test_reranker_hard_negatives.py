"""The reranker stage with hard negatives, both ways of making them: a pool decoded once (small splits) and
fresh copies per batch (splits too large for the pool). Both train, and the first needs the autoencoder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from genkit.cli import main

_spec = importlib.util.spec_from_file_location("tiny", Path(__file__).with_name("tiny.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.mark.parametrize("pool_bytes", [1 << 30, 0], ids=["pool", "fresh"])
def test_the_reranker_trains_on_hard_negatives(tmp_path, monkeypatch, capsys, pool_bytes):
    from genkit.stages import reranker as reranker_stage

    monkeypatch.setattr(reranker_stage, "POOL_BYTES", pool_bytes)
    recipe = dict(tiny.TINY_RECIPE)
    recipe["stages"] = {
        **recipe["stages"],
        "reranker": {**recipe["stages"]["reranker"], "hard_negatives": 2, "log_every": 5},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_dir = tmp_path / "run"
    assert main(["run", str(path), "--out", str(run_dir), "--stage", "reranker"]) != 0
    assert "no autoencoder export yet; stage reranker" in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(run_dir), "--stage", "autoencoder"]) == 0
    assert main(["run", str(path), "--out", str(run_dir), "--stage", "reranker"]) == 0
    lines = [json.loads(line) for line in (run_dir / "reranker" / "metrics.jsonl").read_text().splitlines()]
    beats = [line["beats_hard_negatives"] for line in lines if "beats_hard_negatives" in line]
    assert beats and all(0.0 <= value <= 1.0 for value in beats)
