"""The genkit command line: exit codes, one-line errors, and each core command."""

from __future__ import annotations

import json

import pytest
import yaml

from genkit.cli import main

GOOD = {
    "data": {"kind": "toyset", "size": 16},
    "autoencoder": {"kind": "toy_ae"},
    "prior": {"kind": "toy_prior"},
}


@pytest.fixture
def cli(toy_plugins, use_plugins, capsys):
    use_plugins(toy_plugins)

    def run(*argv):
        code = main(list(map(str, argv)))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write(tmp_path, data, name="r.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_validate_typo_prints_file_key_and_suggestion_and_exits_2(cli, tmp_path):
    path = write(tmp_path, {**GOOD, "prior": {"kind": "toy_prior", "detph": 3}})
    code, out, err = cli("validate", path)
    assert code == 2 and out == ""
    assert err.strip() == f"{path}: prior.detph: unknown key; did you mean 'depth'?"


def test_validate_ok_and_override(cli, tmp_path):
    path = write(tmp_path, GOOD)
    code, out, _ = cli("validate", path, "prior.depth=5", "autoencoder=toy_vq")
    assert code == 0 and "autoencoder=toy_vq" in out and "prior=toy_prior" in out


def test_bad_override_exits_2_with_one_line(cli, tmp_path):
    code, _, err = cli("validate", write(tmp_path, GOOD), "prior.depth")
    assert code == 2 and err.count("\n") == 1 and "expected KEY=VALUE" in err


def test_describe_lists_every_parameter(cli):
    code, out, _ = cli("describe", "prior", "toy_prior")
    assert code == 0
    for name in ("depth", "width", "attention", "dropout", "tie_embeddings"):
        assert name in out
    assert "Layers." in out and "2" in out


def test_describe_unknown_kind(cli):
    code, _, err = cli("describe", "prior", "toy_prio")
    assert code == 2 and "did you mean 'toy_prior'" in err


def test_schema_is_json_schema_with_the_registered_kinds(cli, tmp_path):
    code, out, _ = cli("schema")
    schema = json.loads(out)
    text = json.dumps(schema)
    assert code == 0 and "toy_ae" in text and "toy_vq" in text and "toy_prior" in text
    assert "data" in schema["required"]


def test_plugins_json_lists_components(cli):
    code, out, _ = cli("plugins", "--json")
    listed = {p["name"]: p for p in json.loads(out)["plugins"]}
    assert code == 0 and "autoencoder:toy_ae" in listed["test_plugin_0"]["components"]


def test_run_writes_resolved_recipe_with_versions(cli, tmp_path):
    path = write(tmp_path, GOOD)
    code, out, _ = cli("run", path, "prior.depth=3", "--out", tmp_path / "run")
    resolved = yaml.safe_load((tmp_path / "run" / "recipe.resolved.yaml").read_text())
    assert code == 0 and "nothing to run" in out
    assert resolved["prior"] == {
        "kind": "toy_prior",
        "depth": 3,
        "width": 16,
        "attention": ["row", "column"],
        "dropout": 0.0,
        "tie_embeddings": False,
    }
    assert resolved["resolved_with"]["plugins"]["test_plugin_0"] == "? ?"
    assert "genkit" in resolved["resolved_with"]
    # the resolved recipe is itself a valid recipe that resolves to the same thing
    code, _, _ = cli("run", tmp_path / "run" / "recipe.resolved.yaml", "--out", tmp_path / "run2")
    again = yaml.safe_load((tmp_path / "run2" / "recipe.resolved.yaml").read_text())
    assert code == 0 and {k: v for k, v in again.items() if k != "resolved_with"} == {
        k: v for k, v in resolved.items() if k != "resolved_with"
    }


def test_ls_and_cp(cli, tmp_path, monkeypatch):
    shelf = tmp_path / "shelf" / "mine"
    shelf.mkdir(parents=True)
    (shelf / "tiny.yaml").write_text(yaml.safe_dump({**GOOD, "description": "A tiny recipe."}))
    monkeypatch.setenv("GENKIT_RECIPES_PATH", str(tmp_path / "shelf"))
    code, out, _ = cli("ls")
    assert code == 0 and "mine/tiny" in out and "A tiny recipe." in out
    code, _, _ = cli("cp", "mine/tiny", tmp_path / "copy.yaml")
    assert code == 0 and yaml.safe_load((tmp_path / "copy.yaml").read_text())["prior"] == {"kind": "toy_prior"}
    code, _, err = cli("cp", "mine/tiny", tmp_path / "copy.yaml")
    assert code == 2 and "already exists" in err
    code, _, err = cli("cp", "mine/tin", tmp_path / "x.yaml")
    assert code == 2 and "did you mean 'mine/tiny'" in err
    code, out, _ = cli("validate", "mine/tiny")
    assert code == 0


def test_help_everywhere_has_an_example(cli):
    for command in ("plugins", "validate", "describe", "schema", "ls", "cp", "run"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
    # every core command's description carries an example line
    from genkit.cli import CORE_COMMANDS

    for module in CORE_COMMANDS:
        assert "example" in module.DESCRIPTION, module.NAME


def test_unknown_command_is_a_usage_error(cli):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
