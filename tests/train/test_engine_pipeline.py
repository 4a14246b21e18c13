import json

import pytest
import torch
from toys import ToyPlugin, isolated_plugins

import genkit
from genkit.recipe.load import validate_recipe
from genkit.stages.pipeline import planned_stages, run_pipeline

STAGE = {
    "steps": 4,
    "batch": 8,
    "lr": 1e-2,
    "validate_every": 2,
    "checkpoint_every": 2,
    "log_every": 1,
    "validation_batches": 1,
}


def _recipe(plugins, stages=("autoencoder", "prior", "reranker"), **extra):
    data = {
        "data": {"kind": "shapes", "size": 16, "count": 32, "validation_count": 8},
        "tokenizer": {"kind": "toy_tok"},
        "autoencoder": {"kind": "toy_ae"},
        "prior": {"kind": "toy_prior"},
        "reranker": {"kind": "toy_reranker"},
        "stages": {name: dict(STAGE) for name in stages},
    }
    data.update(extra)
    return validate_recipe(data, "test.yaml", plugins=plugins)


def test_pipeline_runs_every_stage_exports_and_skips_finished_ones(tmp_path):
    plugins = isolated_plugins(ToyPlugin())
    loaded = _recipe(plugins)
    results = run_pipeline(loaded, tmp_path, plugins=plugins, progress=False)
    assert list(results) == ["autoencoder", "tokenizer", "prior", "reranker"]
    index = json.loads((tmp_path / "export" / "model_index.json").read_text())
    assert set(index) == {"autoencoder", "tokenizer", "prior", "reranker"}
    assert "recon_mse" in results["autoencoder"] and "top1_text_to_image" in results["reranker"]
    assert sorted(p.name for p in (tmp_path / "autoencoder").glob("reconstructions_*.png")) == [
        "reconstructions_step00000002.png",
        "reconstructions_step00000004.png",
    ]
    token_dirs = list((tmp_path / "prior" / "tokens").iterdir())  # one set of token shards, with both manifests
    assert len(token_dirs) == 1 and {p.name for p in token_dirs[0].glob("*.json")} == {"train.json", "validation.json"}
    lines = [json.loads(row) for row in (tmp_path / "prior" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines if row["split"] == "train"] == [1, 2, 3, 4]
    assert all(isinstance(v, float) for row in lines for k, v in row.items() if k not in ("step", "split"))
    # the export reloads and encodes exactly like the tokens cached for the prior
    ae = genkit.load_component(tmp_path / "export", "autoencoder", plugins)
    assert ae.grid == (4, 4)
    # everything matches: nothing is redone, same metrics come back
    weights = (tmp_path / "export" / "prior" / "model.safetensors").read_bytes()
    again = run_pipeline(loaded, tmp_path, plugins=plugins, progress=False)
    assert again == results
    assert (tmp_path / "export" / "prior" / "model.safetensors").read_bytes() == weights
    # a changed prior setting redoes the prior only (from scratch, as its checkpoints no longer match)
    changed = _recipe(plugins, stages=("autoencoder", "prior", "reranker"))
    changed = validate_recipe(
        {**changed.data, "stages": {**changed.data["stages"], "prior": {**STAGE, "lr": 5e-3}}},
        "test.yaml",
        plugins=plugins,
    )
    with pytest.raises(genkit.ExportError, match="does not match|does not fit"):
        run_pipeline(changed, tmp_path, plugins=plugins, progress=False, only_stage="prior")
    redone = run_pipeline(changed, tmp_path, only_stage="prior", resume=False, plugins=plugins, progress=False)
    assert list(redone) == ["tokenizer", "prior"]
    assert (tmp_path / "export" / "prior" / "model.safetensors").read_bytes() != weights


def test_a_changed_component_param_never_resumes_an_old_checkpoint(tmp_path):
    """Same parameter shapes and settings, another prior (or other upstream tokens): the checkpoint of the old one
    must not be resumed and exported under the new params."""
    plugins = isolated_plugins(ToyPlugin())
    run_pipeline(_recipe(plugins), tmp_path, plugins=plugins, progress=False)
    data = _recipe(plugins).data
    changed_prior = validate_recipe(
        {**data, "prior": {"kind": "toy_prior", "dropout": 0.5}}, "test.yaml", plugins=plugins
    )
    with pytest.raises(genkit.ExportError, match="does not match this run"):
        run_pipeline(changed_prior, tmp_path, plugins=plugins, progress=False, only_stage="prior")
    changed_data = validate_recipe({**data, "data": {**data["data"], "seed": 5}}, "test.yaml", plugins=plugins)
    with pytest.raises(genkit.ExportError, match="does not match this run"):
        run_pipeline(changed_data, tmp_path, plugins=plugins, progress=False, only_stage="reranker")
    longer = validate_recipe(
        {**data, "stages": {**data["stages"], "prior": {**STAGE, "steps": 6}}}, "test.yaml", plugins=plugins
    )
    assert run_pipeline(longer, tmp_path, plugins=plugins, progress=False, only_stage="prior")  # more steps resume


def test_stage_selection_and_errors(tmp_path):
    plugins = isolated_plugins(ToyPlugin())
    loaded = _recipe(plugins, stages=("autoencoder",))
    assert planned_stages(loaded.recipe) == ["autoencoder"]
    with pytest.raises(genkit.InputError, match="no stages.prior section"):
        run_pipeline(loaded, tmp_path, only_stage="prior", plugins=plugins)
    with pytest.raises(genkit.InputError, match="unknown stage"):
        run_pipeline(loaded, tmp_path, only_stage="decoder", plugins=plugins)
    prior_only = _recipe(plugins, stages=("prior",))
    with pytest.raises(genkit.InputError, match="no autoencoder export"):
        run_pipeline(prior_only, tmp_path, plugins=plugins, progress=False)


def test_missing_optional_dependencies_are_clear(tmp_path):
    from genkit.stages.settings import TrainStage
    from genkit.train.optim import make_optimizer

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        with pytest.raises(genkit.InputError, match="bitsandbytes"):
            make_optimizer(torch.nn.Linear(2, 2), TrainStage(optim="adamw8bit"))
    else:
        optimizer = make_optimizer(torch.nn.Linear(2, 2), TrainStage(optim="adamw8bit"))
        assert "8bit" in type(optimizer).__name__
