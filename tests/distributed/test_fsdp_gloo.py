"""FSDP2 and DDP on 2 gloo ranks (spawned here) against one process on the same global batch."""

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

pytestmark = pytest.mark.distributed

DIST = dict(schedule="constant", warmup=0, ema=None, accumulate=1, validate_every=100, validation_batches=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(path: Path) -> list[float]:
    return [json.loads(row)["loss"] for row in path.read_text().splitlines() if json.loads(row)["split"] == "train"]


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from engine_toy import make_job

    from genkit.train import Trainer

    root = Path(root)
    try:
        # FSDP2: 4 steps with a checkpoint, then resume to 8
        Trainer(make_job(root / "fsdp", noise=False, steps=4, checkpoint_every=4, **DIST), progress=False).fit()
        trainer = Trainer(make_job(root / "fsdp", noise=False, steps=8, checkpoint_every=4, **DIST), progress=False)
        trainer.fit()
        state = trainer.export_state()
        if rank == 0:
            torch.save(state, root / "fsdp_export.pt")
        # DDP with PowerSGD compression: runs and stays finite
        Trainer(
            make_job(root / "ddp", noise=False, steps=4, distributed="ddp", powersgd_rank=1, **DIST), progress=False
        ).fit()
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def test_fsdp2_matches_one_process_and_resumes(tmp_path):
    from engine_toy import make_job

    from genkit.train import Trainer

    single = Trainer(make_job(tmp_path / "single", noise=False, steps=8, checkpoint_every=100, **DIST), progress=False)
    single.fit()
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    reference = _losses(tmp_path / "single" / "metrics.jsonl")
    sharded = _losses(tmp_path / "fsdp" / "metrics.jsonl")
    assert len(sharded) == len(reference) == 8
    assert sharded == pytest.approx(reference, abs=1e-5)
    assert (tmp_path / "fsdp" / "checkpoints" / "step_00000004" / ".metadata").exists()  # torch.distributed.checkpoint
    exported = torch.load(tmp_path / "fsdp_export.pt", weights_only=True)
    for name, value in single.export_state().items():
        torch.testing.assert_close(exported[name], value, rtol=1e-4, atol=1e-5, msg=name)
    ddp = _losses(tmp_path / "ddp" / "metrics.jsonl")
    assert len(ddp) == 4 and all(torch.isfinite(torch.tensor(ddp)))
    assert ddp[0] == pytest.approx(reference[0], abs=1e-5)
