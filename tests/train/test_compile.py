"""``compile: true`` (genkit.compile): a tiny prior trains to the same losses compiled as eager (within float
tolerance), a compilation that fails warns once naming the stage and the step runs again eagerly (then exactly as
an eager run), and compile refuses per-resblock loss scaling. One real inductor compilation (about 6 s on one
core of the development machine; the rest of the module takes about 2 s)."""

from pathlib import Path

import pytest
import torch

import genkit
import genkit.train.loop
from genkit.compile import CompileFallbackWarning, compile_model, is_compile_failure
from genkit.stages.settings import TrainStage
from genkit.train import StageJob, Trainer, seed_everything

CONTEXT = genkit.BuildContext(text_vocab_size=60, text_length=6, image_vocab_size=32, image_grid=(4, 4))
PRIOR = {"width": 32, "depth": 2, "heads": 2, "attention": "full", "caption_dropout": 0.2}
SETTINGS = dict(steps=3, batch=4, lr=3e-3, validate_every=3, checkpoint_every=100, log_every=1, validation_batches=1)


def prior_job(stage_dir: Path, **settings) -> StageJob:
    gen = torch.Generator().manual_seed(0)
    text = torch.randint(0, 60, (16, 6), generator=gen)
    lengths = torch.randint(0, 7, (16,), generator=gen)
    image = torch.randint(0, 32, (16, 4, 4), generator=gen)

    def batch(split, indices, step):
        return text[indices], lengths[indices], image[indices]

    def loss(model, b, step):
        return model.loss(*b)

    seed_everything(0)
    model = genkit.build_component("prior", genkit.make_params("prior", "sparse_transformer", PRIOR), CONTEXT)
    return StageJob("prior", model, TrainStage(**{**SETTINGS, **settings}), stage_dir, 16, 16, batch, loss, seed=0)


def train(stage_dir: Path, **settings):
    trainer = Trainer(prior_job(stage_dir, **settings), progress=False)
    metrics = trainer.fit(resume=False)
    losses = [line["loss"] for line in _lines(stage_dir) if line["split"] == "train"]
    return trainer, metrics, losses


def _lines(stage_dir: Path):
    import json

    return [json.loads(row) for row in (stage_dir / "metrics.jsonl").read_text().splitlines()]


def test_compiled_training_matches_eager(tmp_path):
    eager, eager_metrics, eager_losses = train(tmp_path / "eager")
    compiled, metrics, losses = train(tmp_path / "compiled", compile=True)
    assert compiled.compiled  # still compiled at the end: nothing fell back
    assert losses == pytest.approx(eager_losses, rel=1e-5, abs=1e-6)
    assert metrics["loss"] == pytest.approx(eager_metrics["loss"], rel=1e-5)
    for (name, p), q in zip(compiled.model.state_dict().items(), eager.model.state_dict().values(), strict=True):
        # Adam turns rounding-sized gradient differences into updates of up to lr: 3 steps of 3e-3
        torch.testing.assert_close(p, q, rtol=0, atol=1e-2, msg=name)


def _failing_backend(graph_module, example_inputs):
    raise RuntimeError("no compiler here")


def test_a_failed_compilation_warns_once_and_runs_eagerly(tmp_path, monkeypatch):
    eager, _, eager_losses = train(tmp_path / "eager", accumulate=2)
    monkeypatch.setattr(
        genkit.train.loop, "compile_model", lambda model: compile_model(model, backend=_failing_backend)
    )
    with pytest.warns(CompileFallbackWarning, match=r"stages\.prior: torch\.compile failed .*no compiler here") as seen:
        fallen, _, losses = train(tmp_path / "fallback", compile=True, accumulate=2)
    assert len([w for w in seen if issubclass(w.category, CompileFallbackWarning)]) == 1
    assert fallen.compiled == []
    assert losses == eager_losses  # the failed step ran again from the same batches and random state
    for p, q in zip(fallen.model.parameters(), eager.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_model_errors_are_not_compile_failures():
    assert not is_compile_failure(ValueError("shapes"))
    try:
        torch.compile(lambda x: x + 1, backend=_failing_backend)(torch.ones(1))
    except Exception as exc:  # noqa: BLE001 - whatever dynamo wraps it in
        assert is_compile_failure(exc)
    else:
        pytest.fail("the failing backend did not fail")


def test_compile_refuses_per_resblock_scaling():
    with pytest.raises(ValueError, match="per_resblock"):
        TrainStage(compile=True, precision="fp16", loss_scaling="per_resblock")
    TrainStage(compile=True, precision="bf16")
