"""The maskgit prior under FSDP2 on 2 gloo ranks (spawned here) trains exactly like one process on the global batch.

Each rank shards every block (``shard_units()``) and the root with ``genkit.distributed.wrap.wrap_model`` and runs
a few AdamW steps on its half of the batch. The masks are given explicitly (``loss(..., mask=)``): the ranks'
global RNGs would draw other masks than one process does. The loss is averaged per image, so the mean of the ranks'
losses is the global batch's and the averaged gradients are its gradients: the losses and the gathered parameters
match the single process. The ranks also checkpoint every block's activations (``checkpoint_activations: true``,
recomputed inside FSDP2's backward), the single process does not: the same numbers all the same.
"""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import genkit

pytestmark = pytest.mark.distributed

STEPS, GLOBAL_BATCH, WORLD = 3, 8, 2
CONTEXT = genkit.BuildContext(text_vocab_size=12, text_length=4, image_vocab_size=10, image_grid=(3, 4))


def _model(checkpointing=False):
    torch.manual_seed(0)
    values = {"width": 16, "depth": 2, "heads": 2, "caption_dropout": 0.0, "conv_kernel": 3, "relative_bias": True}
    values["checkpoint_activations"] = checkpointing
    return genkit.build_component("prior", genkit.make_params("prior", "maskgit", values), CONTEXT).train()


def _batches():
    gen = torch.Generator().manual_seed(3)
    text = torch.randint(0, 12, (STEPS, GLOBAL_BATCH, 4), generator=gen)
    lengths = torch.randint(0, 5, (STEPS, GLOBAL_BATCH), generator=gen)
    image = torch.randint(0, 10, (STEPS, GLOBAL_BATCH, 3, 4), generator=gen)
    mask = torch.rand(STEPS, GLOBAL_BATCH, 3, 4, generator=gen) < 0.5
    mask[..., 0, 0] = True  # at least one hidden token per image
    return text, lengths, image, mask


def _train(call, parameters, batches, part=slice(None)):
    optimizer = torch.optim.AdamW(parameters, lr=1e-2)
    losses = []
    for step in range(STEPS):
        text, lengths, image, mask = (b[step, part] for b in batches)
        loss, _ = call(lambda m, t, n, i, k: m.loss(t, n, i, mask=k), text, lengths, image, mask)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return losses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    import torch.distributed as dist

    from genkit.distributed.env import detect
    from genkit.distributed.wrap import wrap_model

    env = detect()
    try:
        model = _model(checkpointing=True)
        call = wrap_model(model, env, mode="fsdp")
        share = GLOBAL_BATCH // world
        losses = _train(call, model.parameters(), _batches(), slice(rank * share, (rank + 1) * share))
        state = {name: p.full_tensor().detach().clone() for name, p in model.named_parameters()}  # collective
        sharded = all(type(p).__name__ == "DTensor" for p in model.shard_units()[0].parameters())
        torch.save({"losses": losses, "state": state, "sharded": sharded}, Path(root) / f"rank{rank}.pt")
        dist.barrier()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_fsdp2_on_two_ranks_matches_one_process(tmp_path):
    mp.spawn(_worker, args=(WORLD, _free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    assert all(r["sharded"] for r in ranks), "the blocks were not sharded"

    from genkit.distributed.wrap import ModelCall

    single = _model()
    reference = _train(ModelCall(single), single.parameters(), _batches())
    mean = [sum(r["losses"][step] for r in ranks) / WORLD for step in range(STEPS)]
    assert mean == pytest.approx(reference, abs=1e-5)
    initial = dict(_model().named_parameters())
    assert all(not torch.equal(initial[name], value) for name, value in single.named_parameters())  # it trained
    for name, value in single.named_parameters():
        for r in ranks:
            torch.testing.assert_close(r["state"][name], value.detach(), rtol=1e-4, atol=1e-5, msg=name)
