"""``genkit serve RUN_DIR``: its options, the localhost default (and the warning when told to bind elsewhere), the
one-line errors, and `genkit --help` without the serve extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import uvicorn

from genkit.cli import main


@pytest.fixture
def served(monkeypatch):
    """uvicorn.run replaced by a recorder: what `genkit serve` would have served, and where."""
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
    yield calls
    for call in calls:
        call["app"].state.worker.close()


def test_binds_localhost_by_default_with_the_runs_model(run_dir, served, capsys):
    assert main(["serve", str(run_dir), "--queue", "3", "--max-candidates", "16"]) == 0
    [call] = served
    assert (call["host"], call["port"]) == ("127.0.0.1", 8000)
    err = capsys.readouterr().err
    assert "http://127.0.0.1:8000" in err and "warning" not in err
    assert call["app"].state.limits.queue == 3 and call["app"].state.limits.candidates == 16
    assert call["app"].state.defaults["candidates"] == 4  # the run's stages.sample


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_binding_elsewhere_says_so(run_dir, served, capsys, host):
    assert main(["serve", str(run_dir), "--host", host, "--port", "8123"]) == 0
    assert served[0]["host"] == host
    err = capsys.readouterr().err
    assert f"warning: binding {host}" in err and "no authentication" in err and "127.0.0.1" in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--port", "0"], "--port 0"),
        (["--port", "70000"], "--port 70000"),
        (["--queue", "0"], "--queue 0"),
        (["--max-candidates", "0"], "--max-candidates 0"),
        (["--max-prompt-chars", "0"], "--max-prompt-chars 0"),
        (["--max-upload-mb", "0"], "--max-upload-mb 0"),
        (["--threads", "0"], "--threads 0"),
    ],
)
def test_bad_options_are_one_line_naming_them(run_dir, served, capsys, args, named):
    assert main(["serve", str(run_dir), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and named in err and "Traceback" not in err
    assert served == []


def test_a_missing_run_or_export_is_one_line(tmp_path, served, capsys):
    assert main(["serve", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["serve", str(tmp_path)]) == 2
    assert "not a genkit export" in capsys.readouterr().err
    assert served == []


def test_without_the_extra_it_names_it(run_dir, served, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    assert main(["serve", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: genkit serve needs the serve extra (missing: fastapi): pip install 'genkit[serve]'"


def test_help_needs_no_web_framework():
    code = (
        "import sys; from genkit.cli import build_parser; build_parser().format_help(); "
        "assert not {'fastapi', 'uvicorn', 'starlette'} & set(sys.modules), sorted(sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
