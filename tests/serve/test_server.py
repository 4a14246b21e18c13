"""``genkit serve`` under a real uvicorn server on localhost (in a thread): a client that goes away cancels its job,
concurrent requests are each answered with their own result or a 429, and the server's threads stay bounded."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from serve_support import GatedPipeline, live_server, wait_until

from genkit.serve.app import HELPER_THREADS


def test_closing_the_event_stream_cancels_the_job(make_app, pipeline):
    gated = GatedPipeline(pipeline)
    app = make_app(gated)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=20) as client:
        with client.stream("POST", "/api/sample/stream", json={"prompt": "a red circle"}) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines) == "event: queued"
            wait_until(gated.entered.is_set)
            job = app.state.worker.running()
        # the stream is closed here: the server sees the client go away and cancels the job
        wait_until(job.cancel_flag.is_set)
        gated.release.set()
        assert job.finished_flag.wait(20) and job.state == "cancelled"
        assert gated.steps == 1
        assert client.post("/api/sample", json={"prompt": "next"}).status_code == 200


def test_a_waiting_client_that_times_out_cancels_its_job(make_app, pipeline):
    gated = GatedPipeline(pipeline)
    app = make_app(gated)
    with live_server(app) as url:
        with httpx.Client(base_url=url, timeout=0.5) as client:
            try:
                client.post("/api/sample", json={"prompt": "a red circle"})
                raise AssertionError("the request should have timed out")
            except httpx.ReadTimeout:
                pass
        job = app.state.worker.running()
        assert job is not None
        wait_until(job.cancel_flag.is_set)
        gated.release.set()
        assert job.finished_flag.wait(20) and job.state == "cancelled" and gated.steps == 1


def test_concurrent_requests_get_their_own_result_or_a_429(make_app, pipeline):
    gated = GatedPipeline(pipeline)
    app = make_app(gated, queue=3)
    before = threading.active_count()
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        server_threads = threading.active_count() - before  # uvicorn's thread and the worker

        def ask(i: int) -> httpx.Response:
            return client.post("/api/sample", json={"prompt": f"shape {i}", "seed": i, "candidates": 2, "keep": 1})

        with ThreadPoolExecutor(12) as pool:
            first = pool.submit(ask, 0)
            wait_until(gated.entered.is_set)
            rest = [pool.submit(ask, i) for i in range(1, 12)]
            wait_until(lambda: app.state.worker.stats()["refused"] + app.state.worker.stats()["waiting"] == 11)
            peak_threads = threading.active_count() - before - 12  # less this test's own client threads
            gated.release.set()
            responses = [first.result(), *(future.result() for future in rest)]
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 4 and statuses.count(429) == 8, statuses  # 1 running + 3 waiting
    for i, response in enumerate(responses):
        if response.status_code == 200:
            result = response.json()
            assert (result["prompt"], result["options"]["seed"]) == (f"shape {i}", i)
        else:
            assert int(response.headers["Retry-After"]) >= 1
    assert app.state.worker.peak_waiting == 3
    assert peak_threads <= server_threads + HELPER_THREADS, (peak_threads, server_threads)
