"""`torchrun --nproc-per-node 2 -m genkit.cli run RECIPE`: every stage of the tiny recipe sharded with FSDP2 on
gloo, then the exported run samples in one process.

The recipe turns on what must agree across ranks: the VQ-VAE's EMA codebook with restarts, and the reranker's
hard negatives with the gathered InfoNCE.

Slow (~30 s on 2 cores: torchrun, 2 ranks, every stage), so `make test-all` runs it. By default the same paths run
faster, piece by piece: tests/distributed/test_fsdp_gloo.py (the trainer under FSDP2 on gloo, resumed),
test_vqvae_codebook_sync.py (the EMA codebook and its restarts across ranks), test_contrastive_global_batch.py
(the gathered InfoNCE with hard negatives), test_torchrun_data.py (a torchrun launch) and
tests/e2e/test_pipeline_learns.py (`genkit run` of every stage, then sampling).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.distributed

_spec = importlib.util.spec_from_file_location("tiny", Path(__file__).parents[1] / "e2e" / "tiny.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_genkit_run_under_torchrun_trains_every_stage_sharded(tmp_path):
    recipe = copy.deepcopy(tiny.TINY_RECIPE)
    recipe["autoencoder"].update(codebook_update="ema", restart_every=10)
    recipe["stages"]["reranker"]["hard_negatives"] = 1
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        "-m",
        "genkit.cli",
        "run",
        str(path),
        "--out",
        str(run_dir),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "error::FutureWarning"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Traceback" not in output and "Warning" not in output, output[-3000:]
    for stage in ("tokenizer", "autoencoder", "prior", "reranker"):
        assert (run_dir / "export" / stage).is_dir(), stage
        assert sum(line.startswith(f"{stage}: ") for line in done.stdout.splitlines()) == 1, done.stdout  # rank 0
    final = json.loads((run_dir / "reranker" / "final.json").read_text())
    assert final  # the sharded reranker finished and wrote its metrics

    from genkit.sample import Pipeline

    results = Pipeline.from_run(run_dir).sample(["a red circle"], candidates=2, keep=1, seed=0)
    assert len(results) == 1 and results[0].images.shape[0] == 1
