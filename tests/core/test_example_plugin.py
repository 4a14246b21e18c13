"""A third-party plugin installed with pip is discovered and usable from a recipe, with no change to genkit, and its
own tests (genkit's conformance kit through the ``pytest11`` plugin) pass.

The example is copied into a temporary directory and built from there: nothing is written into the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "genkit-example-plugin"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """A copy of the example's source, without build outputs (its build writes build/ and *.egg-info beside it)."""
    copy = tmp_path_factory.mktemp("src") / EXAMPLE.name
    junk = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(EXAMPLE, copy, ignore=junk)
    return copy


@pytest.fixture(scope="module")
def installed(tmp_path_factory, example):
    """pip-install the example distribution (wheel build, dist-info, entry point) into a private folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(example),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert list(target.glob("genkit_example_plugin-0.1.0.dist-info/entry_points.txt"))
    return target


def genkit_cli(installed, *args, **env):
    environment = {**os.environ, "PYTHONPATH": str(installed), **env}
    return subprocess.run(
        [sys.executable, "-m", "genkit.cli", *map(str, args)], capture_output=True, text=True, env=environment
    )


def test_installed_plugin_appears_in_plugins_and_describe(installed):
    listed = genkit_cli(installed, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert plugins["example_bytes"]["distribution"] == "genkit-example-plugin"
    assert plugins["example_bytes"]["version"] == "0.1.0"
    assert plugins["example_bytes"]["components"] == ["tokenizer:bytes"]
    described = genkit_cli(installed, "describe", "tokenizer", "bytes")
    assert (
        described.returncode == 0 and "max_length" in described.stdout and "genkit-example-plugin" in described.stdout
    )


def test_installed_plugin_is_usable_from_a_recipe(installed, tmp_path):
    recipe = tmp_path / "bytes.yaml"
    recipe.write_text(yaml.safe_dump({"data": {"kind": "shapes"}, "tokenizer": {"kind": "bytes", "max_length": 12}}))
    validated = genkit_cli(installed, "validate", recipe, "tokenizer.lowercase=false")
    assert validated.returncode == 0, validated.stderr
    assert "tokenizer=bytes" in validated.stdout
    code = f"""
import sys; sys.path.insert(0, {str(installed)!r})
import genkit, torch
params = genkit.make_params("tokenizer", "bytes", {{"max_length": 12}})
tok = genkit.build_component("tokenizer", params)
batch = tok.encode(["A  Red Circle", "ünïcode ✓ and much more text"])
assert tok.decode(batch.ids, batch.lengths)[0] == "a red circle"
assert batch.lengths.tolist()[1] <= 12 and tok.truncated == 1
genkit.save_component({str(tmp_path / "export")!r}, "tokenizer", tok, params, genkit.BuildContext())
again = genkit.load_component({str(tmp_path / "export")!r}, "tokenizer")
assert torch.equal(again.encode(["x y"]).ids, tok.encode(["x y"]).ids)
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_disabling_the_plugin_removes_it(installed, tmp_path):
    recipe = tmp_path / "bytes.yaml"
    recipe.write_text(yaml.safe_dump({"data": {"kind": "shapes"}, "tokenizer": {"kind": "bytes"}}))
    result = genkit_cli(installed, "validate", recipe, GENKIT_DISABLE_PLUGINS="example_bytes")
    # with other tokenizer plugins installed the kind is unknown; with none, the role has no plugin at all
    assert result.returncode == 2 and f"{recipe}: tokenizer: " in result.stderr
    assert (
        "unknown tokenizer kind 'bytes'" in result.stderr
        or "no installed plugin registers a tokenizer" in result.stderr
    )


def test_the_example_plugins_own_tests_pass(installed, example):
    """Its tests import one suite (genkit.testing.TokenizerSuite); the fixtures come from genkit's pytest11 plugin."""
    environment = {**os.environ, "PYTHONPATH": str(installed)}
    environment.pop("PYTEST_ADDOPTS", None)
    environment.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(example / "tests"), "-p", "no:cacheprovider", "-q"],
        capture_output=True,
        text=True,
        cwd=example,
        env=environment,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]
