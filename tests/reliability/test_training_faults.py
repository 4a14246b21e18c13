"""Training must never destroy a good model or report success on garbage (issue 18): divergence stops a run and
exports nothing; non-finite weights are never exported nor loaded; --no-resume sets old checkpoints aside; a
plugin that raises names itself and training keeps a checkpoint; a stale downstream export is refused; a run
that fails before training leaves the run directory's recipe alone; half-written files of a killed run go."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import torch
from harness import assert_one_line_error, run_cli, sample_one, tree_hashes
from safetensors.torch import load_file, save_file

import genkit
from genkit.plugins.hookspecs import hookimpl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from engine_toy import make_job  # noqa: E402
from toys import ToyPlugin, isolated_plugins  # noqa: E402

from genkit.train import Trainer  # noqa: E402
from genkit.train.checkpoint import complete_checkpoints  # noqa: E402


@pytest.mark.parametrize("lr", ["1e3", "1e30"])
def test_a_diverging_stage_stops_keeps_the_good_export_and_exports_nothing(tiny_run, tiny_recipe, lr, capsys):
    before = tree_hashes(tiny_run / "export")
    result = run_cli(
        [
            "run",
            tiny_recipe,
            "--out",
            tiny_run,
            "--stage",
            "prior",
            f"stages.prior.lr={lr}",
            "stages.prior.steps=40",
            "stages.prior.checkpoint_every=100",
            "stages.prior.validate_every=100",
            "--no-resume",
        ],
        capsys,
    )
    assert_one_line_error(result, 1, "stages.prior", "diverged", "nothing was exported")
    assert tree_hashes(tiny_run / "export") == before  # the good prior is still the export


def test_non_finite_weights_are_refused_by_name_when_loading(tiny_run, tmp_path, capsys):
    path = tiny_run / "export" / "prior" / "model.safetensors"
    tensors = load_file(str(path))
    name = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    tensors[name] = tensors[name].clone().fill_(float("nan"))
    save_file(tensors, str(path))
    result = sample_one(tiny_run, tmp_path / "s.png", capsys)
    assert_one_line_error(result, 2, "model.safetensors", name, "not finite")


def test_a_non_finite_model_is_never_exported(tmp_path):
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    params = genkit.make_params("autoencoder", "dvae", {})
    with pytest.raises(genkit.ExportError, match="weight 'weight' is not finite"):
        genkit.save_component(tmp_path, "autoencoder", model, params, genkit.BuildContext(image_size=32))
    assert not (tmp_path / "autoencoder").exists()


def test_no_resume_sets_old_checkpoints_aside_and_an_interrupt_keeps_the_new_one(tmp_path):
    Trainer(make_job(tmp_path, steps=8, checkpoint_every=2), progress=False).fit()  # a longer, older run
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["step_00000006", "step_00000008"]

    class Interrupt:
        @hookimpl
        def genkit_step_end(self, stage, step, metrics):
            if step == 1:
                os.kill(os.getpid(), signal.SIGINT)

    plugins = isolated_plugins(ToyPlugin())
    plugins.register_plugin(Interrupt(), "interrupt")
    with pytest.raises(genkit.GenkitError, match="interrupted at step") as info:
        Trainer(make_job(tmp_path, steps=4, checkpoint_every=2), plugins=plugins, progress=False).fit(resume=False)
    saved = Path(str(info.value).split("checkpoint saved to ")[1].split(" ")[0])
    assert saved.is_dir() and saved.name in ("step_00000001", "step_00000002")  # the message names what exists
    assert complete_checkpoints(tmp_path) == [saved]
    aside = tmp_path / "checkpoints.set-aside-1"
    assert sorted(p.name for p in aside.iterdir()) == ["step_00000006", "step_00000008"]


def test_a_plugin_hook_that_raises_names_the_plugin_after_a_checkpoint(tmp_path):
    class Broken:
        @hookimpl
        def genkit_step_end(self, stage, step, metrics):
            if step == 3:
                raise ZeroDivisionError("oops")

    plugins = isolated_plugins(ToyPlugin())
    plugins.register_plugin(Broken(), "broken_observer")
    with pytest.raises(genkit.PluginError) as info:
        Trainer(make_job(tmp_path, steps=8, checkpoint_every=100), plugins=plugins, progress=False).fit()
    message = str(info.value)
    assert "plugin 'broken_observer' failed in genkit_step_end" in message and "ZeroDivisionError: oops" in message
    assert len(message.splitlines()) == 1 and [p.name for p in complete_checkpoints(tmp_path)] == ["step_00000003"]
    resumed = Trainer(make_job(tmp_path, steps=8, checkpoint_every=100), progress=False)
    resumed.fit()
    assert resumed.step == 8


def test_a_component_whose_build_raises_names_its_plugin():
    class Faulty:
        @hookimpl
        def genkit_register_components(self, register):
            def build(params, context):
                raise KeyError("boom")

            register("autoencoder", "faulty", params=genkit.Params, build=build)

    plugins = isolated_plugins(ToyPlugin())
    plugins.register_plugin(Faulty(), "faulty_plugin")
    params = genkit.make_params("autoencoder", "faulty", {}, plugins)
    with pytest.raises(
        genkit.PluginError,
        match=r"autoencoder faulty: plugin 'faulty_plugin' failed to build it "
        r"\(KeyError: 'boom'\)",
    ):
        genkit.build_component("autoencoder", params, genkit.BuildContext(), plugins)


def test_a_downstream_export_trained_on_a_replaced_upstream_is_refused(tiny_run, tiny_recipe, tmp_path, capsys):
    result = run_cli(
        ["run", tiny_recipe, "--out", tiny_run, "--stage", "autoencoder", "--no-resume", "stages.autoencoder.lr=2e-3"],
        capsys,
    )
    assert result.code == 0, result.err
    result = sample_one(tiny_run, tmp_path / "s.png", capsys)
    assert_one_line_error(result, 2, "prior", "was trained on another autoencoder", "--stage prior")
    # the whole recipe retrains what is stale, and sampling works again
    assert (
        run_cli(["run", tiny_recipe, "--out", tiny_run, "stages.autoencoder.lr=2e-3", "--no-resume"], capsys).code == 0
    )
    assert sample_one(tiny_run, tmp_path / "s.png", capsys).code == 0


def test_a_run_that_fails_before_training_leaves_the_resolved_recipe_alone(tiny_run, tmp_path, capsys):
    """The folder's captions.jsonl is missing: the run stops before training, and the run's recipe stays."""
    before = tree_hashes(tiny_run)
    result = run_cli(
        [
            "run",
            tiny_run / "recipe.resolved.yaml",
            "--out",
            tiny_run,
            "data={kind: folder}",
            f"data.path={tmp_path / 'missing'}",
            "data.size=16",
        ],
        capsys,
    )
    assert_one_line_error(result, 2, "captions.jsonl")
    assert tree_hashes(tiny_run) == before


def test_half_written_files_of_a_killed_run_are_removed(tiny_run, tiny_recipe, capsys):
    (tiny_run / "prior" / "checkpoints" / ".tmp-step_00000099").mkdir(parents=True)
    (tiny_run / "export" / ".prior.abc123").mkdir()
    (tiny_run / "export" / ".model_index.json.x1.tmp").write_text("{")
    result = run_cli(["run", tiny_recipe, "--out", tiny_run], capsys)
    assert result.code == 0, result.err
    assert not list(tiny_run.rglob(".tmp-step_*")) and not list(tiny_run.rglob("*.tmp"))
    assert not (tiny_run / "export" / ".prior.abc123").exists()


def test_an_infinite_learning_rate_is_refused_before_training(tiny_run, tiny_recipe, capsys):
    before = tree_hashes(tiny_run)
    result = run_cli(["run", tiny_recipe, "--out", tiny_run, "--stage", "prior", "stages.prior.lr=.inf"], capsys)
    assert_one_line_error(result, 2, "stages.prior.lr")
    assert tree_hashes(tiny_run) == before
