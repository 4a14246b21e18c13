"""8-bit AdamW (``optim: adamw8bit``, bitsandbytes; its CPU build runs the blockwise 8-bit update): a tiny prior
trains with it, a run checkpointed at step 3 and resumed to step 6 ends bit for bit where an uninterrupted run
does (weights, 8-bit states, losses), and the trained prior exports and loads back."""

import json
from pathlib import Path

import pytest
import torch

import genkit
from genkit.stages.settings import TrainStage
from genkit.train import StageJob, Trainer, seed_everything

bnb = pytest.importorskip("bitsandbytes")

CONTEXT = genkit.BuildContext(text_vocab_size=60, text_length=6, image_vocab_size=64, image_grid=(4, 4))
PRIOR = {"width": 64, "depth": 2, "heads": 2, "attention": "full", "caption_dropout": 0.2}
SETTINGS = dict(
    batch=4, lr=3e-3, schedule="constant", optim="adamw8bit", checkpoint_every=100, log_every=1, validate_every=100
)


def job(stage_dir: Path, steps: int) -> StageJob:
    gen = torch.Generator().manual_seed(0)
    text = torch.randint(0, 60, (16, 6), generator=gen)
    lengths = torch.randint(0, 7, (16,), generator=gen)
    image = torch.randint(0, 64, (16, 4, 4), generator=gen)

    def batch(split, indices, step):
        return text[indices], lengths[indices], image[indices]

    def loss(model, b, step):
        return model.loss(*b)

    seed_everything(0)
    params = genkit.make_params("prior", "sparse_transformer", PRIOR)
    model = genkit.build_component("prior", params, CONTEXT)
    settings = TrainStage(steps=steps, validation_batches=1, **SETTINGS)
    return StageJob("prior", model, settings, stage_dir, 16, 16, batch, loss, seed=0)


def train_losses(stage_dir: Path) -> list[float]:
    lines = [json.loads(row) for row in (stage_dir / "metrics.jsonl").read_text().splitlines()]
    return [line["loss"] for line in lines if line["split"] == "train"]


def assert_same(a, b, where="state"):
    """Nested optimizer state: equal keys, bit-equal tensors, equal plain values."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_trains_resumes_bit_for_bit_and_exports(tmp_path):
    straight = Trainer(job(tmp_path / "straight", 6), progress=False)
    straight.fit(resume=False)
    assert type(straight.optimizer).__name__ == "AdamW8bit"
    eight_bit = [s for s in straight.optimizer.state.values() if s["state1"].dtype == torch.uint8]
    assert len(eight_bit) >= 4  # the matrices of >= 4096 values keep 8-bit moments (smaller ones fp32)
    losses = train_losses(tmp_path / "straight")
    assert losses[-1] < losses[0]  # it learns

    Trainer(job(tmp_path / "split", 3), progress=False).fit(resume=False)
    torch.manual_seed(1234)  # another random state before resuming: the checkpoint restores it
    resumed = Trainer(job(tmp_path / "split", 6), progress=False)
    resumed.fit(resume=True)
    assert resumed.step == 6
    assert train_losses(tmp_path / "split") == losses
    for (name, p), q in zip(resumed.model.state_dict().items(), straight.model.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert_same(resumed.optimizer.state_dict()["state"], straight.optimizer.state_dict()["state"])

    params = genkit.make_params("prior", "sparse_transformer", PRIOR)
    export = tmp_path / "export"
    genkit.save_component(export, "prior", resumed.model, params, CONTEXT)
    loaded = genkit.load_component(export, "prior")
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, straight.model.state_dict()[name]), name
