"""VQ-VAE codebook updates under FSDP2 on 2 gloo ranks (spawned here).

- EMA statistics are summed over the ranks: the codebook equals one process's on the global batch.
- Dead-code restarts take rank 0's encoder outputs on every rank and survive FSDP2's gather/free of parameters
  (the learned codebook moves through a buffer shift, the EMA codebook is a buffer).
"""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import genkit

pytestmark = pytest.mark.distributed

SMALL = {
    "codebook_size": 16,
    "downsample": 4,
    "hidden": 4,
    "blocks_per_group": 1,
    "codebook_dim": 4,
    "restart_every": 3,
    "dead_code_threshold": 1.5,
}  # 1.5: codes seen fewer than ~18 times are dead
RUNS = {"ema_no_restart": ("ema", False), "ema_restart": ("ema", True), "loss_restart": ("loss", True)}
STEPS, GLOBAL_BATCH = 3, 8


def _build(update: str, restart: bool):
    torch.manual_seed(0)
    params = genkit.make_params(
        "autoencoder", "vqvae", {**SMALL, "codebook_update": update, "restart_dead_codes": restart}
    )
    return genkit.build_component("autoencoder", params, genkit.BuildContext(image_size=8)).train()


def _images() -> torch.Tensor:
    return torch.rand(STEPS, GLOBAL_BATCH, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(name: str, update: str, restart: bool, images: torch.Tensor, env, root: str) -> None:
    from genkit.distributed.wrap import wrap_model

    model = _build(update, restart)
    call = wrap_model(model, env, mode="fsdp")
    # lr 0: the encoder stays put, so the restarted vectors can be compared with its outputs afterwards
    optim = torch.optim.SGD([p for p in call.parameters() if p.requires_grad], lr=0.0)
    for step in range(1, STEPS + 1):
        loss, _ = call(lambda m, x, s: m.training_loss(x, s), images[step - 1], step)
        loss.backward()
        optim.step()
        optim.zero_grad()
    book = call(lambda m: m.codebook_vectors().detach().clone())
    outputs = call(lambda m, x: m.embed(x).detach().permute(0, 2, 3, 1).reshape(-1, 4), images[-1])
    torch.save(
        {"book": book, "outputs": outputs, "usage": model.code_usage.clone()}, Path(root) / f"{name}_rank{env.rank}.pt"
    )


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    import gc

    import torch.distributed as dist

    from genkit.distributed.env import detect

    env = detect()
    share = GLOBAL_BATCH // world
    images = _images()[:, rank * share : (rank + 1) * share]
    try:
        for name, (update, restart) in RUNS.items():
            _run(name, update, restart, images, env, root)
        gc.collect()  # the sharded models (and their hold on the process group) go before the group does
        dist.barrier()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _matches(book: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    return torch.cdist(book, outputs).min(dim=1).values < 1e-5


def test_codebook_updates_agree_across_ranks_and_survive_fsdp2(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    results = {name: [torch.load(tmp_path / f"{name}_rank{r}.pt", weights_only=True) for r in (0, 1)] for name in RUNS}
    for name, (rank0, rank1) in results.items():
        torch.testing.assert_close(rank0["book"], rank1["book"], rtol=0, atol=0, msg=name)
        torch.testing.assert_close(rank0["usage"], rank1["usage"], rtol=0, atol=0, msg=name)

    single = _build("ema", False)
    for step, batch in enumerate(_images(), start=1):
        single.training_loss(batch, step)
    torch.testing.assert_close(
        results["ema_no_restart"][0]["book"], single.codebook_vectors().detach(), rtol=1e-5, atol=1e-6
    )
    torch.testing.assert_close(results["ema_no_restart"][0]["usage"], single.code_usage, rtol=1e-6, atol=1e-6)

    for name in ("ema_restart", "loss_restart"):
        rank0, rank1 = results[name]
        restarted = _matches(rank0["book"], rank0["outputs"])
        assert restarted.sum() >= 4, f"{name}: restarts were lost ({int(restarted.sum())} codes are encoder outputs)"
        # rank 0's vectors on both ranks: no restarted code is one of rank 1's own outputs instead
        assert not (_matches(rank1["book"], rank1["outputs"]) & ~restarted).any(), name
