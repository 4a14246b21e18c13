"""Helpers of the ``genkit serve`` tests (and its benchmark): a tiny run directory, small image files, a real
uvicorn server in a thread, and stand-ins around the real tiny pipeline: one that holds sampling after its first
decode step until released, one that fails on a given prompt."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image
from tiny_export import write_tiny_export

from genkit.sample import Pipeline

RECIPE = "seed: 3\nstages:\n  sample: {candidates: 4, keep: 2, temperature: 0.9, top_k: 20}\n"


def write_tiny_run(run_dir: Path) -> Path:
    """A run directory as ``genkit serve`` reads it: ``export/`` (the tiny export, 16 px images, a 4x4 token grid)
    and ``recipe.resolved.yaml`` (seed 3; stages.sample: 4 candidates, keep 2, temperature 0.9, top-k 20)."""
    write_tiny_export(run_dir / "export")
    (run_dir / "recipe.resolved.yaml").write_text(RECIPE, encoding="utf-8")
    return run_dir


def image_file(size: tuple[int, int] = (24, 20), colour: str = "red", format: str = "PNG") -> bytes:
    """A small one-colour image file's bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=format)
    return buffer.getvalue()


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """``app`` under a real uvicorn server on a free localhost port, in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive())
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class GatedPipeline:
    """The real ``pipeline``, but ``sample`` stops after its first decode step until ``release`` is set;
    ``entered`` is set once it got there, and ``steps`` counts every decode step run."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.inner = pipeline
        self.autoencoder = pipeline.autoencoder
        self.reranker = pipeline.reranker
        self.entered = threading.Event()
        self.release = threading.Event()
        self.steps = 0

    def sample(self, prompts: Any, **options: Any) -> Any:
        outer = options["progress"]

        def progress(done: int, total: int) -> None:
            self.steps += 1
            if done == 1:
                self.entered.set()
                assert self.release.wait(20), "the test never released the gate"
            outer(done, total)

        return self.inner.sample(prompts, **{**options, "progress": progress})


class FailingPipeline:
    """The real ``pipeline``, but sampling ``prompt`` raises a RuntimeError (a bug, an out-of-memory...)."""

    def __init__(self, pipeline: Pipeline, prompt: str) -> None:
        self.inner = pipeline
        self.autoencoder = pipeline.autoencoder
        self.reranker = pipeline.reranker
        self.prompt = prompt

    def sample(self, prompts: Any, **options: Any) -> Any:
        if self.prompt in prompts:
            raise RuntimeError("the model fell over")
        return self.inner.sample(prompts, **options)


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)
