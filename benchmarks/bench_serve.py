"""``genkit serve`` under load: 50 concurrent requests against a tiny run on localhost, one JSON object per line.

    python benchmarks/bench_serve.py [--requests 50] [--queues 8,64] [--candidates 4] [--keep 2] [--threads 1]

For each queue bound, starts ``genkit serve`` (uvicorn, its own process) on a free localhost port with the tiny run
of the tests (tests/tiny_export.py: 16 px, a 4x4 token grid, untrained; or ``--run RUN_DIR``), fires all requests
at once (``POST /api/sample``, httpx async) and checks:

- none lost: every request is answered, 200 with its result or 429 with a Retry-After hint, and the server counts
  as done exactly the 200s;
- none mixed up: each result echoes its own request's prompt and seed; the requests come in pairs with the same
  prompt and seed, whose images must be the same bytes (different pairs give different images);
- the queue bound held: the most requests that ever waited (the server's ``peak_waiting``) is at most the bound,
  so with a bound under the number of requests some get 429, and with one above it none do;
- threads bounded: the server process's thread count (``/proc/PID/status``, torch's included), idle and at its
  peak during the load.

Latency is from sending a request to its answer: p50 / p95 over the 200s and over the 429s. The machine may be
shared: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = ["a red circle", "a blue square at the top left", "a small green triangle", "a yellow diamond", "a cross"]


def tiny_run(out: Path) -> Path:
    """The tests' tiny export plus a resolved recipe (``stages.sample``: 4 candidates, keep 2)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_export import write_tiny_export

    write_tiny_export(out / "export")
    (out / "recipe.resolved.yaml").write_text("seed: 0\nstages:\n  sample: {candidates: 4, keep: 2}\n", "utf-8")
    return out


def processor() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 4)


async def fire(url: str, requests: int, candidates: int, keep: int, pid: int) -> dict[str, Any]:
    """All ``requests`` at once; the answers, their latencies and the server's peak thread count meanwhile."""
    bodies = [
        {
            "prompt": f"{CAPTIONS[i % 5]} #{i % (requests // 2)}",
            "seed": i % (requests // 2),
            "candidates": candidates,
            "keep": keep,
        }
        for i in range(requests)
    ]
    peak = threads_of(pid)
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, threads_of(pid))
            await asyncio.sleep(0.01)

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=httpx.Limits(max_connections=requests)) as client:

        async def one(body: dict[str, Any]) -> tuple[httpx.Response, float, bytes | None]:
            started = time.perf_counter()
            response = await client.post("/api/sample", json=body)
            latency = time.perf_counter() - started
            if response.status_code != 200:
                return response, latency, None
            image = await client.get(response.json()["images"][0]["url"])  # at once: the server keeps 16 results
            assert image.status_code == 200 and image.headers["content-type"] == "image/png", image.text[:200]
            return response, latency, image.content

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        answers = await asyncio.gather(*(one(body) for body in bodies))
        wall = time.perf_counter() - started
        stop.set()
        await watcher
        images = {i: png for i, (_, _, png) in enumerate(answers) if png is not None}
        info = (await client.get("/api/info")).json()
    return {"bodies": bodies, "answers": answers, "wall": wall, "images": images, "info": info, "peak": peak}


def check(run: dict[str, Any], requests: int, bound: int) -> dict[str, Any]:
    """The measures and checks of one load; raises AssertionError on a lost or mixed-up request."""
    bodies, answers, images, stats = run["bodies"], run["answers"], run["images"], run["info"]["queue"]
    statuses = [response.status_code for response, _, _ in answers]
    ok = [i for i, status in enumerate(statuses) if status == 200]
    busy = [i for i, status in enumerate(statuses) if status == 429]
    assert len(ok) + len(busy) == requests, f"lost: statuses {sorted(set(statuses))}"
    assert all(int(answers[i][0].headers["Retry-After"]) >= 1 for i in busy), "a 429 without a retry hint"
    ids = set()
    for i in ok:
        result = answers[i][0].json()
        assert (result["prompt"], result["options"]["seed"]) == (bodies[i]["prompt"], bodies[i]["seed"]), "mixed up"
        ids.add(result["id"])
    assert len(ids) == len(ok) and stats["done"] == len(ok), "a result was lost or counted twice"
    half = requests // 2
    pairs = [(i, i + half) for i in range(half) if i in images and i + half in images]
    assert all(images[a] == images[b] for a, b in pairs), "the same request gave different images"
    distinct = {(bodies[i]["prompt"], bodies[i]["seed"]) for i in ok}
    assert len({images[i] for i in ok}) == len(distinct), "different requests gave the same image"
    assert stats["peak_waiting"] <= bound, "the queue bound was passed"
    if bound + 1 >= requests:
        assert not busy, "refused under the bound"
    return {
        "answered_200": len(ok),
        "answered_429": len(busy),
        "lost": requests - len(ok) - len(busy),
        "mixed_up": 0,
        "identical_pairs_checked": len(pairs),
        "peak_waiting": stats["peak_waiting"],
        "latency_200_p50_s": percentile([answers[i][1] for i in ok], 0.5),
        "latency_200_p95_s": percentile([answers[i][1] for i in ok], 0.95),
        "latency_429_p50_s": percentile([answers[i][1] for i in busy], 0.5),
        "latency_429_p95_s": percentile([answers[i][1] for i in busy], 0.95),
        "wall_s": round(run["wall"], 3),
        "server_threads_peak": run["peak"],
    }


def bench(run_dir: Path, requests: int, bound: int, candidates: int, keep: int, threads: int) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, "-m", "genkit.cli", "serve", str(run_dir), "--port", str(port), "--queue", str(bound)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    server = subprocess.Popen([*command, "--threads", str(threads)], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"genkit serve exited: {server.stderr.read() if server.stderr else ''}"
            try:
                httpx.get(f"{url}/api/info", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "genkit serve did not start"
                time.sleep(0.1)
        idle = threads_of(server.pid)
        run = asyncio.run(fire(url, requests, candidates, keep, server.pid))
        return {
            "bench": "serve",
            "requests": requests,
            "queue_bound": bound,
            "candidates": candidates,
            "keep": keep,
            "torch_threads": threads,
            **check(run, requests, bound),
            "server_threads_idle": idle,
        }
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--queues", default="8,64", help="queue bounds to try, comma-separated")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    parser.add_argument("--run", type=Path, help="a run directory (default: a tiny untrained run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        run_dir = args.run or tiny_run(Path(tmp) / "run")
        machine = {"cpu": processor(), "cores": os.cpu_count(), "torch": torch.__version__}
        for bound in (int(q) for q in args.queues.split(",")):
            result = bench(run_dir, args.requests, bound, args.candidates, args.keep, args.threads)
            print(json.dumps({**result, "machine": machine}), flush=True)


if __name__ == "__main__":
    main()
