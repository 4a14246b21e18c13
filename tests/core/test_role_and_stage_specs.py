"""Roles and stages are declared once (RoleSpec/StageSpec, through hooks) and everything else derives from them:
the recipe schema, the pipeline's plan, the CLI's choices, the checks, the build-time contract check. A third
party declares a role and a stage exactly as genkit's built-in plugins do."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Protocol

import pytest
from pydantic import ConfigDict, Field

import genkit
from genkit.cli import build_parser
from genkit.errors import InputError, PluginError, RecipeError
from genkit.plugins import Plugins
from genkit.recipe import builtin_recipes, load_recipe, validate_recipe
from genkit.stages.pipeline import planned_stages, run_pipeline

BUILTIN_ROLES = ["dataset", "tokenizer", "autoencoder", "prior", "reranker"]
BUILTIN_STAGES = ["autoencoder", "tokenizer", "prior", "reranker", "sample"]


class Captioner(Protocol):
    """Writes a caption for an image."""

    def caption(self, image: Any) -> str: ...


class CaptionerParams(genkit.Params):
    words: int = Field(3, ge=1, description="Words per caption.")


class CaptionStage(genkit.Params):
    model_config = ConfigDict(extra="forbid", frozen=True)
    epochs: int = Field(1, ge=1, description="Epochs.")


def captioning_plugin(calls: list[str], build: Any = None) -> types.SimpleNamespace:
    """A third-party plugin declaring the role ``captioner``, a kind of it, and a stage that trains it."""

    def run(state: Any) -> dict[str, float]:
        calls.append(f"caption epochs={state.recipe.stages.caption.epochs} kind={state.recipe.captioner.kind}")
        return {"epochs": float(state.recipe.stages.caption.epochs)}

    @genkit.hookimpl
    def genkit_register_roles(register: Any) -> None:
        register(genkit.RoleSpec("captioner", "captioner", Captioner, "Writes captions."))

    @genkit.hookimpl
    def genkit_register_stages(register: Any) -> None:
        register(genkit.StageSpec("caption", run, "Train the captioner.", settings=CaptionStage, trains="captioner"))

    @genkit.hookimpl
    def genkit_register_components(register: Any) -> None:
        default = lambda params, context: types.SimpleNamespace(caption=lambda image: "a cat")  # noqa: E731
        register("captioner", "echo", params=CaptionerParams, build=build or default)

    return types.SimpleNamespace(
        genkit_register_roles=genkit_register_roles,
        genkit_register_stages=genkit_register_stages,
        genkit_register_components=genkit_register_components,
    )


def plugins_with(*extra: tuple[str, Any]) -> Plugins:
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": ""}).load()
    for name, plugin in extra:
        plugins.register_plugin(plugin, name)
    return plugins


SHAPES = {"kind": "shapes", "size": 16, "count": 8}


def test_genkit_declares_its_roles_and_stages_through_its_own_plugins():
    plugins = plugins_with()
    assert list(plugins.registry.roles) == BUILTIN_ROLES
    assert list(plugins.registry.stages) == BUILTIN_STAGES
    assert {r.owner for r in plugins.registry.roles.values()} == {"genkit.roles.plugin"}
    assert {s.owner for s in plugins.registry.stages.values()} == {"genkit.stages.plugin"}
    assert plugins.registry.role("dataset").section == "data"
    tokenizer_stage = plugins.registry.stages["tokenizer"]
    assert tokenizer_stage.implied and tokenizer_stage.trains == "tokenizer"


def test_a_third_party_role_and_stage_reach_the_schema_the_plan_and_the_cli(tmp_path, monkeypatch):
    calls: list[str] = []
    plugins = plugins_with(("captioning", captioning_plugin(calls)))
    monkeypatch.setattr("genkit.plugins.manager._loaded", plugins)  # the CLI reads the process's plugins
    assert list(plugins.registry.roles)[-1] == "captioner" and list(plugins.registry.stages)[-1] == "caption"
    data = {"data": SHAPES, "captioner": {"kind": "echo", "words": 5}, "stages": {"caption": {"epochs": 2}}}
    loaded = validate_recipe(data, "cap.yaml", plugins=plugins)
    assert loaded.recipe.captioner.words == 5
    assert planned_stages(loaded.recipe, plugins=plugins) == ["caption"]
    assert run_pipeline(loaded, tmp_path, plugins=plugins, progress=False) == {"caption": {"epochs": 2.0}}
    assert calls == ["caption epochs=2 kind=echo"]
    with pytest.raises(RecipeError, match=r"cap.yaml: stages.caption: trains the captioner, but the recipe has no "):
        validate_recipe({"data": SHAPES, "stages": {"caption": {}}}, "cap.yaml", plugins=plugins)
    with pytest.raises(RecipeError, match=r"cap.yaml: captioner: unknown captioner kind 'echoo'; did you mean 'echo'"):
        validate_recipe({"data": SHAPES, "captioner": {"kind": "echoo"}}, "cap.yaml", plugins=plugins)
    parser = build_parser()
    run_choices = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    stage_option = next(a for a in run_choices._actions if a.dest == "stage")
    describe = parser._subparsers._group_actions[0].choices["describe"]  # type: ignore[union-attr]
    role_argument = next(a for a in describe._actions if a.dest == "role")
    assert "caption" in stage_option.choices and "captioner" in role_argument.choices


def test_a_component_missing_a_member_of_its_role_is_refused_when_built():
    broken = lambda params, context: types.SimpleNamespace(describe=lambda image: "")  # noqa: E731
    plugins = plugins_with(("captioning", captioning_plugin([], build=broken)))
    params = genkit.make_params("captioner", "echo", {}, plugins)
    with pytest.raises(
        PluginError,
        match=r"captioner echo: plugin 'captioning' built a SimpleNamespace without "
        r"'caption', which the captioner role requires \(genkit.Captioner\)",
    ):
        genkit.build_component("captioner", params, plugins=plugins)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (genkit.RoleSpec("prior", "prior2", Captioner, "x"), r"role 'prior' .* declared by both 'genkit.roles.plugin'"),
        (genkit.RoleSpec("captioner", "data", Captioner, "x"), r"declared by both 'genkit.roles.plugin' and 'dup'"),
    ],
)
def test_a_role_that_clashes_is_an_error_naming_both_plugins(spec, message):
    @genkit.hookimpl
    def genkit_register_roles(register: Any) -> None:
        register(spec)

    plugins = plugins_with()
    with pytest.raises(PluginError, match=message):
        plugins.register_plugin(types.SimpleNamespace(genkit_register_roles=genkit_register_roles), "dup")


def test_a_role_with_a_bad_name_skips_its_plugin(capsys):
    @genkit.hookimpl
    def genkit_register_roles(register: Any) -> None:
        register(genkit.RoleSpec("Bad-Name", "bad", Captioner, "x"))

    plugins = plugins_with(("bad_role", types.SimpleNamespace(genkit_register_roles=genkit_register_roles)))
    assert "Bad-Name" not in plugins.registry.roles and "bad_role" not in plugins.infos
    assert "a name is lowercase letters" in plugins.failures[0].reason
    assert "plugin 'bad_role' skipped" in capsys.readouterr().err


def test_a_stage_naming_an_unknown_role_or_taken_name_is_refused(capsys):
    run = lambda state: {}  # noqa: E731

    @genkit.hookimpl
    def genkit_register_stages(register: Any) -> None:
        register(genkit.StageSpec("distill", run, "x", trains="student"))

    plugins = plugins_with(("bad_stage", types.SimpleNamespace(genkit_register_stages=genkit_register_stages)))
    assert "distill" not in plugins.registry.stages
    assert "names role 'student'" in plugins.failures[0].reason
    again = types.SimpleNamespace(
        genkit_register_stages=genkit.hookimpl(lambda register: register(genkit.StageSpec("prior", run, "x")))
    )
    again.genkit_register_stages.__name__ = "genkit_register_stages"
    with pytest.raises(PluginError, match="stage 'prior' is declared by both 'genkit.stages.plugin' and 'again'"):
        plugins.register_plugin(again, "again")


def test_the_tokenizer_stage_is_implied_and_can_run_alone():
    loaded = load_recipe("shapes/demo")
    assert planned_stages(loaded.recipe) == BUILTIN_STAGES
    assert planned_stages(loaded.recipe, "tokenizer") == ["tokenizer"]
    autoencoder_only = load_recipe("shapes/dvae_32px")
    assert planned_stages(autoencoder_only.recipe) == ["autoencoder"]  # nothing needs a tokenizer
    with pytest.raises(InputError, match="--stage tokenizer: the recipe has no tokenizer section"):
        planned_stages(autoencoder_only.recipe, "tokenizer")
    with pytest.raises(InputError, match=r"--stage decoder: unknown stage; did you mean 'encoder'|unknown stage"):
        planned_stages(loaded.recipe, "decoder")


def test_a_stage_that_needs_an_implied_role_needs_its_section():
    data = load_recipe("shapes/demo").data
    without = {key: value for key, value in data.items() if key != "tokenizer"}
    with pytest.raises(
        RecipeError,
        match=r"tokenizer: stages.prior and stages.reranker need a tokenizer: section, "
        r"e.g. tokenizer: \{kind: bpe\}",
    ):
        validate_recipe(without, "demo.yaml")


def test_plugins_contribute_recipe_folders_and_genkit_s_own_win(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    (folder / "mine").mkdir(parents=True)
    (folder / "mine" / "tiny.yaml").write_text("description: mine\ndata: {kind: shapes, size: 16}\n")
    (folder / "shapes").mkdir()
    (folder / "shapes" / "demo.yaml").write_text("description: a shadow of the demo\ndata: {kind: shapes}\n")

    @genkit.hookimpl
    def genkit_recipe_dirs() -> list[Path]:
        return [folder]

    plugins = plugins_with(("recipes_plugin", types.SimpleNamespace(genkit_recipe_dirs=genkit_recipe_dirs)))
    monkeypatch.setattr("genkit.plugins.manager._loaded", plugins)
    found = builtin_recipes()
    assert found["mine/tiny"] == folder / "mine" / "tiny.yaml"
    assert found["shapes/demo"] != folder / "shapes" / "demo.yaml"  # genkit's own recipe is not shadowed
    assert load_recipe("mine/tiny", plugins=plugins).recipe.data.size == 16


def test_judges_come_from_a_hook():
    plugins = plugins_with()
    shapes = genkit.make_params("dataset", "shapes", {"size": 16}, plugins)
    folder = genkit.make_params("dataset", "folder", {"path": "x"}, plugins)
    judge = plugins.hook.genkit_select_judge(data=shapes)
    assert isinstance(judge, genkit.Judge)
    assert plugins.hook.genkit_select_judge(data=folder) is None

    class Strict:
        def judges(self, example: Any) -> bool:
            return True

        def judge(self, image: Any, example: Any) -> dict[str, float | None]:
            return {"faithful": 0.0}

    plugins.register_plugin(
        types.SimpleNamespace(genkit_select_judge=genkit.hookimpl(tryfirst=True)(lambda data: Strict())), "strict"
    )
    assert isinstance(plugins.hook.genkit_select_judge(data=shapes), Strict)
