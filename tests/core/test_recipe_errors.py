"""Malformed recipes: each gives one line per problem that names the file and the dotted key."""

from __future__ import annotations

import pytest
import yaml
from toys import toy_recipe

from genkit.errors import InputError, RecipeError
from genkit.recipe import load_recipe


def recipe(**changes):
    """The toys' recipe with ``changes`` (``section__key=value``; ``DELETE`` removes the key)."""
    data = toy_recipe()
    for key, value in changes.items():
        node = data
        *parents, last = key.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(last)
        else:
            node[last] = value
    return data


DELETE = object()

# (case id, recipe data, overrides, substrings the single error line must contain)
CASES = [
    ("typo_key", recipe(autoencoder__hiden=8), [], ["autoencoder.hiden: unknown key", "did you mean 'hidden'"]),
    (
        "unknown_kind",
        recipe(autoencoder={"kind": "toy_ea"}),
        [],
        ["autoencoder: unknown autoencoder kind 'toy_ea'", "did you mean 'toy_ae'", "toy_vq"],
    ),
    ("missing_kind", recipe(autoencoder={"hidden": 8}), [], ["autoencoder: missing 'kind'", "toy_ae, toy_vq"]),
    ("missing_data", recipe(data=DELETE), [], ["data: required key is missing"]),
    ("wrong_type", recipe(prior__depth="deep"), [], ["prior.depth:", "valid integer", "'deep'"]),
    ("out_of_range", recipe(prior__depth=0), [], ["prior.depth:", "greater than or equal to 1"]),
    ("bad_list_item", recipe(prior__attention=["row", "diagonal"]), [], ["prior.attention.1:", "'diagonal'"]),
    ("section_not_mapping", recipe(prior=[1, 2]), [], ["prior:", "expected a section"]),
    ("top_level_typo", recipe(stagse={}), [], ["stagse: unknown key", "did you mean 'stages'"]),
    ("stage_typo", recipe(stages__prior__lrr=1e-3), [], ["stages.prior.lrr: unknown key", "did you mean 'lr'"]),
    ("stage_bad_value", recipe(stages__prior__precision="fp8"), [], ["stages.prior.precision:", "'fp8'"]),
    ("unknown_stage", recipe(stages__decoder={"steps": 1}), [], ["stages.decoder: unknown key"]),
    (
        "role_without_plugin",
        recipe(reranker={"kind": "clip"}),
        [],
        ["reranker:", "no installed plugin registers a reranker"],
    ),
    (
        "override_unknown_key",
        recipe(),
        ["prior.dpth=8"],
        ["(override prior.dpth=8): prior.dpth: unknown key", "did you mean 'depth'"],
    ),
    ("override_wrong_type", recipe(), ["prior.depth=many"], ["(override prior.depth=many): prior.depth:", "'many'"]),
    (
        "override_unknown_kind",
        recipe(),
        ["autoencoder=vqvea"],
        ["(override autoencoder=vqvea): autoencoder: unknown autoencoder kind 'vqvea'"],
    ),
    (
        "swap_leaks_no_keys",
        recipe(),
        ["autoencoder=toy_vq", "autoencoder.hidden=3"],
        ["autoencoder.hidden: unknown key"],
    ),
    ("kind_is_not_a_string", recipe(autoencoder={"kind": 3}), [], ["autoencoder:", "3"]),
]


@pytest.mark.parametrize("case_id, data, overrides, expected", CASES, ids=[c[0] for c in CASES])
def test_malformed_recipe_names_file_and_key(tmp_path, toy_plugins, case_id, data, overrides, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides, toy_plugins)
    lines = str(info.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}"), lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])


def test_several_problems_give_one_line_each(tmp_path, toy_plugins):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(recipe(prior__depth=0, autoencoder__hiden=1, stages__prior__lrr=1)))
    with pytest.raises(RecipeError) as info:
        load_recipe(path, [], toy_plugins)
    keys = sorted(line.split(": ")[1] for line in str(info.value).splitlines())
    assert keys == ["autoencoder.hiden", "prior.depth", "stages.prior.lrr"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the recipe is empty"),
        ("# only a comment\n", "the recipe is empty"),
        ("data: {kind: toyset\n", "YAML syntax error"),
        ("- a\n- b\n", "a recipe is a mapping of sections, got a list"),
        ("data:\n  kind: toyset\n\tsize: 3\n", "YAML syntax error"),
    ],
    ids=["empty", "comment_only", "unclosed_flow", "list_not_mapping", "tab_indent"],
)
def test_unreadable_files(tmp_path, toy_plugins, text, expected):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_recipe(path, [], toy_plugins)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_yaml_error_has_line_and_column(tmp_path, toy_plugins):
    path = tmp_path / "r.yaml"
    path.write_text("data:\n  kind: toyset\nprior: [unclosed\n")
    with pytest.raises(InputError, match=rf"^{path}:\d+:\d+: YAML syntax error"):
        load_recipe(path, [], toy_plugins)


def test_missing_file_and_unknown_builtin_name(toy_plugins):
    with pytest.raises(InputError, match="no such recipe file or built-in recipe"):
        load_recipe("no/such/recipe.yaml", [], toy_plugins)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("prior.depth", "expected KEY=VALUE"),
        ("=3", "is not a dotted key"),
        ("prior..depth=3", "is not a dotted key"),
        ("prior.depth=[1, 2", "value is not valid YAML"),
        ("0.depth=1", "starts with a section name"),
        ("prior.depth.x=1", "prior.depth is a value"),
        ("prior.attention.7=row", "index 7 is out of range"),
        ("prior.width.0=1", "prior.width is not a list"),
    ],
)
def test_bad_override_syntax(tmp_path, toy_plugins, override, expected):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(recipe(prior__attention=["row", "column"])))
    with pytest.raises(InputError) as info:
        load_recipe(path, [override], toy_plugins)
    assert expected in str(info.value) and override in str(info.value)


def test_valid_recipe_fills_defaults(tmp_path, toy_plugins):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(recipe()))
    loaded = load_recipe(path, ["stages.prior.lr=2e-4"], toy_plugins)
    assert loaded.recipe.prior.width == 16 and loaded.recipe.prior.kind == "toy_prior"
    assert loaded.recipe.stages.prior.lr == pytest.approx(2e-4)
    assert loaded.recipe.stages.autoencoder is None
    assert loaded.name == "ok"
