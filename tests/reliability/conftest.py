"""Fixtures of the hostile-input suite: a tiny finished run to attack (see harness.py for the checks)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import TINY_RUN_RECIPE  # noqa: E402


@pytest.fixture(scope="session")
def tiny_run_master(tmp_path_factory) -> Path:
    """A finished run of every stage of a tiny recipe (trained once per session; copy it before changing it)."""
    root = tmp_path_factory.mktemp("tiny_run")
    recipe = root / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RUN_RECIPE))
    from genkit.cli import main

    assert main(["run", str(recipe), "--out", str(root / "run")]) == 0
    return root / "run"


@pytest.fixture
def tiny_run(tiny_run_master, tmp_path) -> Path:
    """A private copy of the tiny finished run."""
    return Path(shutil.copytree(tiny_run_master, tmp_path / "run"))


@pytest.fixture
def tiny_recipe(tmp_path) -> Path:
    """The tiny recipe as a file (``TINY_RUN_RECIPE``)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RUN_RECIPE))
    return path
