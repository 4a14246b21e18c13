"""``--steps-scale``: every setting declared as a step count (``genkit.Steps``) is scaled, in core and in plugins.

No training here: the scaled variant recipes are only built and validated.
"""

from __future__ import annotations

import json
from typing import Annotated

import pytest
import yaml
from pydantic import BaseModel, Field

import genkit
from genkit.ablate import variant_recipe
from genkit.cli import main
from genkit.steps import is_step_count, scale_step_count, scaled_step_counts

STAGE_STEP_COUNTS = ("steps", "warmup", "log_every", "validate_every", "checkpoint_every")

#: The real first-party plugins, with every step count spelled out (the demo's values, kept here so that edits
#: to the built-in recipe do not move these numbers).
RECIPE = {
    "seed": 0,
    "data": {"kind": "shapes", "size": 32, "count": 1000},
    "tokenizer": {"kind": "bpe", "vocab_size": 512, "max_length": 16},
    "autoencoder": {
        "kind": "dvae",
        "codebook_size": 512,
        "downsample": 4,
        "hidden": 32,
        "blocks_per_group": 1,
        "codebook_dim": 64,
        "temperature_steps": 900,
        "kl_weight_steps": 5000,
    },
    "prior": {"kind": "sparse_transformer", "width": 128, "depth": 4, "heads": 4, "conv_kernel": 5},
    "reranker": {"kind": "contrastive"},
    "stages": {
        "autoencoder": {
            "steps": 900,
            "batch": 32,
            "lr": 3e-3,
            "warmup": 20,
            "validate_every": 300,
            "checkpoint_every": 300,
        },
        "prior": {"steps": 1000, "batch": 32, "lr": 4e-3, "warmup": 50, "validate_every": 500, "checkpoint_every": 500},
        "reranker": {
            "steps": 500,
            "batch": 64,
            "lr": 3e-3,
            "warmup": 50,
            "validate_every": 250,
            "checkpoint_every": 250,
            "hard_negatives": 1,
        },
        "sample": {"prompts": ["a red circle"], "candidates": 8},
    },
}


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "scaled.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return str(path)


def test_the_variant_scales_stage_and_component_step_counts(recipe):
    base = variant_recipe(recipe, []).recipe
    scaled = variant_recipe(recipe, [], 0.25).recipe
    ae, prior, reranker = scaled.stages.autoencoder, scaled.stages.prior, scaled.stages.reranker
    assert (ae.steps, ae.warmup, ae.validate_every, ae.checkpoint_every, ae.log_every) == (225, 5, 75, 75, 2)
    assert (prior.steps, prior.warmup, prior.validate_every, prior.checkpoint_every) == (250, 12, 125, 125)
    assert (reranker.steps, reranker.warmup, reranker.validate_every, reranker.checkpoint_every) == (125, 12, 62, 62)
    # the dVAE anneals over the scaled run, not over 4x its length
    assert scaled.autoencoder.temperature_steps == 225 == ae.steps
    assert scaled.autoencoder.kl_weight_steps == 1250
    for stage in (ae, prior, reranker):
        assert stage.warmup <= stage.steps and stage.validate_every <= stage.steps
    # nothing else moves: sizes, rates, batches, seeds, counts of other things
    plain_base, plain_scaled = base.model_dump(mode="json"), scaled.model_dump(mode="json")
    for name in ("autoencoder", "prior", "reranker"):
        for key in STAGE_STEP_COUNTS:
            plain_base["stages"][name].pop(key)
            plain_scaled["stages"][name].pop(key)
    for key in ("temperature_steps", "kl_weight_steps"):
        plain_base["autoencoder"].pop(key)
        plain_scaled["autoencoder"].pop(key)
    assert plain_base == plain_scaled


def test_scaling_follows_the_variant_and_covers_its_own_overrides(recipe):
    vq = variant_recipe(recipe, ["autoencoder=vqvae", "stages.prior.steps=400"], 0.5).recipe
    assert vq.autoencoder.kind == "vqvae" and vq.autoencoder.restart_every == 25
    assert vq.stages.prior.steps == 200 and vq.stages.autoencoder.steps == 450
    assert variant_recipe(recipe, [], 1.0).recipe == variant_recipe(recipe, []).recipe
    assert variant_recipe(recipe, [], 2.0).recipe.stages.prior.warmup == 100
    with pytest.raises(genkit.InputError, match="positive"):
        variant_recipe(recipe, [], 0.0)


def test_scaled_counts_round_keep_zero_and_stay_at_least_one_and_in_order(recipe):
    assert scale_step_count(0, 0.25) == 0
    assert scale_step_count(1, 0.01) == 1 and scale_step_count(3, 0.1) == 1
    assert scale_step_count(1000, 0.25) == 250 and scale_step_count(1000, 3) == 3000
    for factor in (0.001, 0.1, 0.25, 0.33, 0.5, 0.77, 1.5, 4.0):  # monotonic: warmup <= steps survives
        values = [scale_step_count(v, factor) for v in range(0, 400)]
        assert values == sorted(values)
    with pytest.raises(ValueError):
        scale_step_count(10, -1)
    scaled = variant_recipe(recipe, ["stages.prior.warmup=1", "stages.prior.steps=2"], 0.01).recipe
    assert scaled.stages.prior.warmup == 1 == scaled.stages.prior.steps


# -- a third party's params: the marker is public and generic ---------------------------------------------------


class RampPriorParams(genkit.Params):
    depth: int = Field(2, ge=1, description="Layers (not a step count).")
    ramp_steps: genkit.Steps = Field(800, ge=0, description="Length of a ramp, in steps.")
    refresh_every: Annotated[int, genkit.StepCount()] = Field(40, ge=1, description="Steps between refreshes.")
    decay_steps: genkit.Steps | None = Field(None, ge=1, description="Optional decay length, in steps.")
    milestones: list[genkit.Steps] = Field(default_factory=lambda: [100, 400], description="Steps of lr drops.")
    off_steps: genkit.Steps = Field(0, ge=0, description="0: disabled.")


class RampSetParams(genkit.Params):
    size: int = Field(16, ge=4, description="Image side.")
    count: int = Field(1000, ge=1, description="Items (not a step count).")


class RampPlugin:
    @genkit.hookimpl
    def genkit_register_components(self, register):
        register("dataset", "rampset", params=RampSetParams, build=lambda p, c: ("rampset", p))
        register("prior", "ramp_prior", params=RampPriorParams, build=lambda p, c: ("ramp_prior", p))


def test_a_third_party_params_class_with_marked_fields_is_scaled(make_plugins, tmp_path):
    plugins = make_plugins(RampPlugin())
    path = tmp_path / "ramp.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data": {"kind": "rampset"},
                "prior": {"kind": "ramp_prior", "depth": 3, "decay_steps": 600},
                "stages": {"prior": {"steps": 1000, "warmup": 100}},
            }
        )
    )
    recipe = variant_recipe(str(path), ["prior.refresh_every=41"], 0.25, plugins).recipe
    assert (recipe.prior.ramp_steps, recipe.prior.refresh_every, recipe.prior.decay_steps) == (200, 10, 150)
    assert recipe.prior.milestones == [25, 100] and recipe.prior.off_steps == 0
    assert recipe.prior.depth == 3 and recipe.data.count == 1000 and recipe.data.size == 16
    assert (recipe.stages.prior.steps, recipe.stages.prior.warmup) == (250, 25)
    # declared, so visible to tools: the field metadata and the JSON Schema carry the unit
    fields = RampPriorParams.model_fields
    assert [name for name, field in fields.items() if is_step_count(field)] == [
        "ramp_steps",
        "refresh_every",
        "decay_steps",
        "milestones",
        "off_steps",
    ]
    schema = RampPriorParams.model_json_schema()["properties"]
    assert schema["ramp_steps"]["x-unit"] == "steps" and schema["ramp_steps"]["type"] == "integer"
    assert "x-unit" not in json.dumps(schema["depth"])


def test_any_pydantic_model_nesting_marked_fields_is_walked():
    class Inner(BaseModel):
        every: genkit.Steps = 10
        width: int = 10

    class Outer(BaseModel):
        inner: Inner = Inner()
        inners: list[Inner] = [Inner(every=4), Inner(every=0)]
        flag: bool = True

    assert scaled_step_counts(Outer(), 0.5) == {("inner", "every"): 5, ("inners", 0, "every"): 2}


# -- the command line -------------------------------------------------------------------------------------------


def test_ablate_help_documents_the_steps_scale(capsys):
    with pytest.raises(SystemExit) as info:
        main(["ablate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert info.value.code == 0 and "--steps-scale F" in out and "example" in out
    assert "optimizer steps" in out and "warmup" in out and "genkit.Steps" in out


def test_ablate_command_passes_its_arguments(monkeypatch, tmp_path, capsys):
    import genkit.ablate

    calls = []

    def fake_run_ablation(recipe, vary, out, **kwargs):
        calls.append((recipe, vary, out, kwargs))
        (out / "ablation.md").write_text("| variant |\n")
        return []

    monkeypatch.setattr(genkit.ablate, "run_ablation", fake_run_ablation)
    out = tmp_path / "abl"
    code = main(
        [
            "ablate",
            "shapes/demo",
            "prior.depth=2",
            "--vary",
            "prior.width=64,128",
            "--vary",
            "autoencoder=dvae,vqvae",
            "--steps-scale",
            "0.25",
            "--out",
            str(out),
            "--captions",
            "8",
        ]
    )
    assert code == 0 and "| variant |" in capsys.readouterr().out
    [(recipe, vary, where, kwargs)] = calls
    assert (recipe, vary, where) == ("shapes/demo", ["prior.width=64,128", "autoencoder=dvae,vqvae"], out)
    assert kwargs["steps_scale"] == 0.25 and kwargs["base_overrides"] == ["prior.depth=2"]
    assert kwargs["eval_captions"] == 8 and kwargs["eval_candidates"] is None

    code = main(["ablate", "shapes/demo", "--vary", "prior.width=64", "--steps-scale", "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "--steps-scale" in err and err.count("\n") == 1 and len(calls) == 1
