"""Under torchrun with 2 gloo ranks x 2 DataLoader workers, one epoch of a webdataset corpus yields every key
exactly once (shards dealt to the 4 slots; and with fewer shards than slots, samples dealt round-robin).

Each case starts torchrun and 2 ranks x 2 workers (~12 s on 2 cores). The default suite runs the round-robin case;
the 6-shard case is marked slow (`make test-all`): tests/data/test_webdataset.py deals both ways in one process
(shards >= slots and fewer shards than slots), so torchrun adds only its environment, which the 3-shard case
covers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from shard_fixtures import write_shards  # noqa: E402

pytestmark = pytest.mark.distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("shards", [pytest.param(6, marks=pytest.mark.slow), 3])
def test_one_epoch_under_torchrun_yields_every_key_once(tmp_path, shards):
    keys = write_shards(tmp_path / "shards", shards, 9)
    script = Path(__file__).with_name("epoch_keys_script.py")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        str(script),
        str(tmp_path / "shards"),
        str(tmp_path),
    ]
    done = subprocess.run(
        command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    per_rank = [json.loads((tmp_path / f"keys_{rank}.json").read_text()) for rank in range(2)]
    assert all(per_rank)  # both ranks got data
    seen = per_rank[0] + per_rank[1]
    assert sorted(seen) == sorted(keys)  # every key, none twice
