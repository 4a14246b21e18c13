"""Fixtures of the ``genkit serve`` tests: a tiny run (the tiny export plus a resolved recipe whose stages.sample
sets the defaults), its pipeline loaded once per module, and apps over it (their workers stopped afterwards)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # serve_support.py, imported by name by the tests

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from serve_support import write_tiny_run  # noqa: E402

from genkit.sample import Pipeline  # noqa: E402
from genkit.serve.app import create_app  # noqa: E402
from genkit.serve.limits import Limits  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_tiny_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def pipeline(run_dir) -> Pipeline:
    return Pipeline.from_run(run_dir)


@pytest.fixture
def make_app(run_dir, pipeline) -> Iterator[Callable[..., FastAPI]]:
    """``make_app(pipeline=None, **limits)``: an app over the module's pipeline (or a stand-in around it)."""
    apps: list[FastAPI] = []

    def make(pipeline_: object | None = None, **limits: int) -> FastAPI:
        app = create_app(run_dir, Limits(**limits), pipeline=pipeline_ or pipeline)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.worker.close()


@pytest.fixture
def client(make_app) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client
