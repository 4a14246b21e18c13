"""genkit and its first-party plugins, built as wheels and installed into a fresh venv outside the repository, list
and validate the built-in recipes: the recipes ship in the wheel as package data and the plugins are found through
their entry points, with no checkout in sight.

The fresh venv gets genkit's dependencies (torch, pydantic, ...) from this test run's environment through a ``.pth``
line instead of downloading them again; that line adds a folder to ``sys.path`` without running the ``.pth`` files
in it, so the checkout's editable install stays invisible, and the wheels' own distributions come first on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted(path.parent for path in (ROOT / "plugins").glob("*/pyproject.toml"))
IGNORED = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".venv", "runs", "dist")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args[:4]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv in a temporary folder with genkit's and the first-party plugins' wheels installed (no editable code)."""
    base = tmp_path_factory.mktemp("wheel_install")
    sources = base / "src"
    sources.mkdir()
    shutil.copytree(ROOT / "genkit", sources / "genkit" / "genkit", ignore=IGNORED)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, sources / "genkit" / name)
    for plugin in PLUGINS:
        shutil.copytree(plugin, sources / plugin.name, ignore=IGNORED)
    wheels = base / "wheels"
    projects = [sources / "genkit", *(sources / plugin.name for plugin in PLUGINS)]
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        wheels,
        *projects,
        cwd=base,
    )
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        *sorted(wheels.glob("*.whl")),
        cwd=base,
    )
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base).stdout.strip())
    (site / "dependencies_from_the_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def genkit_cli(venv: Path, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "GENKIT_"))}
    return run(venv / "bin" / "genkit", *args, cwd=venv.parent, env=env).stdout


def test_the_wheel_ships_the_recipes_and_finds_the_plugins(fresh_venv: Path):
    where = run(
        fresh_venv / "bin" / "python",
        "-c",
        "import genkit, genkit_dvae; print(genkit.__file__);print(genkit_dvae.__file__)",
        cwd=fresh_venv.parent,
    ).stdout.split()
    assert all(Path(path).is_relative_to(fresh_venv) for path in where), where  # not the checkout's code
    listed = genkit_cli(fresh_venv, "ls", "--paths")
    for name in ("shapes/demo", "shapes/dvae_32px", "dalle/paper_12b", "webdataset/example"):
        assert name in listed
    assert str(ROOT) not in listed  # every recipe comes from the installed package
    assert "shapes/demo" in genkit_cli(fresh_venv, "validate", "shapes/demo").splitlines()[0]
    plugins = genkit_cli(fresh_venv, "plugins")
    for kind in (
        "tokenizer:bpe",
        "autoencoder:dvae",
        "autoencoder:vqvae",
        "prior:sparse_transformer",
        "reranker:contrastive",
    ):
        assert kind in plugins
