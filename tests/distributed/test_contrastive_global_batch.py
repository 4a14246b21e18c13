"""The contrastive reranker's InfoNCE on 2 gloo ranks (spawned here) is one process's loss on the global batch.

Each rank embeds half the batch; captions and images are gathered with gradient. After averaging the gradients
over the ranks (what DDP and FSDP2 do), the loss, the metrics and every gradient match one process that sees the
whole batch, hard negatives included.
"""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import genkit

pytestmark = pytest.mark.distributed

GLOBAL_BATCH, WORLD = 8, 2


def _model():
    torch.manual_seed(0)
    context = genkit.BuildContext(image_size=16, text_vocab_size=12, text_length=4)
    params = {"width": 16, "depth": 1, "heads": 2, "image_widths": [8, 16], "groups": 4, "embed_dim": 16}
    return genkit.build_component("reranker", genkit.make_params("reranker", "contrastive", params), context)


def _batch():
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 12, (GLOBAL_BATCH, 4), generator=gen)
    lengths = torch.randint(1, 5, (GLOBAL_BATCH,), generator=gen)
    images = torch.rand(GLOBAL_BATCH, 3, 16, 16, generator=gen)
    negatives = torch.rand(GLOBAL_BATCH, 2, 3, 16, 16, generator=gen)
    return ids, lengths, images, negatives


def _loss_and_grads(model, ids, lengths, images, negatives):
    loss, metrics = model.training_loss(ids, lengths, images, negatives=negatives)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), metrics, grads


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

    dist.init_process_group("gloo")
    try:
        share = GLOBAL_BATCH // world
        mine = [part[rank * share : (rank + 1) * share] for part in _batch()]
        loss, metrics, grads = _loss_and_grads(_model(), *mine)
        for grad in grads.values():  # the data-parallel mean
            dist.all_reduce(grad)
            grad /= world
        dist.all_reduce(loss)
        torch.save({"loss": loss / world, "metrics": metrics, "grads": grads}, Path(root) / f"rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_gathered_infonce_equals_one_process_on_the_global_batch(tmp_path):
    mp.spawn(_worker, args=(WORLD, _free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    loss, metrics, grads = _loss_and_grads(_model(), *_batch())
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    for result in ranks:
        torch.testing.assert_close(result["loss"], loss, rtol=1e-5, atol=1e-6)
        assert set(result["grads"]) == set(grads)
        for name, grad in grads.items():
            torch.testing.assert_close(result["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    for key in ("top1_text_to_image", "top1_image_to_text", "beats_hard_negatives"):  # the mean of the ranks'
        assert sum(r["metrics"][key] for r in ranks) / WORLD == pytest.approx(metrics[key]), key
