"""Sampling with ``compile`` (``Pipeline.compile_prior``, ``stages.sample.compile``, ``genkit sample --compile``):
a compilation that fails warns once and draws again eagerly (the same pixels as an eager pipeline); a real
compilation draws the tokens eager sampling draws (slow: inductor compiles the decode step, about 20 s)."""

import pytest
import torch

import genkit.sample.pipeline
from genkit.compile import CompileFallbackWarning, compile_model
from genkit.sample import Pipeline

PROMPTS = ["a red circle", "a small green triangle"]


def draw(pipeline):
    return pipeline.sample(PROMPTS, candidates=3, keep=2, seed=7)


def _failing_backend(graph_module, example_inputs):
    raise RuntimeError("no compiler here")


def test_a_failed_compilation_warns_once_and_samples_eagerly(export_dir, monkeypatch):
    expected = draw(Pipeline.from_export(export_dir))
    monkeypatch.setattr(
        genkit.sample.pipeline, "compile_model", lambda model, **kw: compile_model(model, backend=_failing_backend)
    )
    pipeline = Pipeline.from_export(export_dir)
    pipeline.compile_prior("stages.sample.compile")
    with pytest.warns(CompileFallbackWarning, match=r"stages\.sample\.compile: torch\.compile failed") as seen:
        got = draw(pipeline)
    assert len([w for w in seen if issubclass(w.category, CompileFallbackWarning)]) == 1
    assert pipeline.compiled == []
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a.codes, b.codes) and torch.equal(a.images, b.images)


@pytest.mark.slow
def test_compiled_sampling_draws_the_eager_tokens(export_dir):
    expected = draw(Pipeline.from_export(export_dir))
    pipeline = Pipeline.from_export(export_dir)
    pipeline.compile_prior()
    got = draw(pipeline)
    assert pipeline.compiled  # nothing fell back
    same = sum(int(torch.equal(a.codes, b.codes)) for a, b in zip(got, expected, strict=True))
    assert same == len(PROMPTS)  # rounding may flip a near-tie draw; none does for this export and seed
