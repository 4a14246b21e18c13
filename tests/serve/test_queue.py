"""The worker under load: the queue bound (429 with a retry hint), cancelling a waiting or a running job (it stops
within one decode step), one request's failure leaving the server up, and the bounded memory of recent results."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from serve_support import FailingPipeline, GatedPipeline, wait_until

from genkit.serve.jobs import Job, Worker
from genkit.serve.limits import FieldError, Limits

OPTIONS = {"candidates": 2, "keep": 1, "temperature": 1.0, "top_k": None, "top_p": None, "guidance": 0.0, "seed": 0}


def job(prompt: str = "a red circle") -> Job:
    return Job(prompt=prompt, options=dict(OPTIONS))


def test_the_queue_bound_is_held_with_a_retry_hint(make_app, pipeline):
    gated = GatedPipeline(pipeline)
    app = make_app(gated, queue=2)
    worker = app.state.worker
    with TestClient(app) as client:
        running, first, second = job(), job(), job()
        assert worker.submit(running) == 0
        wait_until(gated.entered.is_set)
        assert worker.submit(first) == 0 and worker.submit(second) == 1
        response = client.post("/api/sample", json={"prompt": "one too many"})
        assert response.status_code == 429
        body = response.json()
        assert body["field"] is None and "queue holds 2" in body["error"]
        assert int(response.headers["Retry-After"]) == body["retry_after"] >= 1
        with client.stream("POST", "/api/sample/stream", json={"prompt": "one too many"}) as stream:
            assert stream.status_code == 429 and "Retry-After" in stream.headers
        state = client.get(f"/api/jobs/{second.id}").json()
        assert state["state"] == "queued" and state["position"] == 1
        gated.release.set()
        for queued in (running, first, second):
            assert queued.finished_flag.wait(20) and queued.state == "done"
        stats = client.get("/api/info").json()["queue"]
        assert stats["peak_waiting"] == 2 and stats["refused"] == 2 and stats["done"] == 3
        assert client.post("/api/sample", json={"prompt": "room again"}).status_code == 200


def test_cancelling_a_running_job_stops_it_at_the_next_step(make_app, pipeline):
    gated = GatedPipeline(pipeline)
    app = make_app(gated)
    with TestClient(app) as client:
        response: dict = {}
        waiter = threading.Thread(
            target=lambda: response.update(r=client.post("/api/sample", json={"prompt": "a red circle"}))
        )
        waiter.start()
        wait_until(gated.entered.is_set)
        running = app.state.worker.running()
        assert running is not None and running.prompt == "a red circle"
        cancelled = client.post(f"/api/jobs/{running.id}/cancel").json()
        assert cancelled == {"id": running.id, "state": "running", "cancelled": True}
        gated.release.set()
        waiter.join(20)
        assert response["r"].status_code == 409 and "cancelled" in response["r"].json()["error"]
        assert running.state == "cancelled" and running.result is None
        assert gated.steps == 1  # of 16: the step that was running when it was cancelled, no more
        assert client.get(f"/api/jobs/{running.id}").json()["state"] == "cancelled"
        assert client.get("/api/recent").json() == []
        assert client.post("/api/sample", json={"prompt": "next"}).status_code == 200  # the worker is free


def test_cancelling_a_waiting_job_drops_it_unrun(make_app, pipeline):
    gated = GatedPipeline(pipeline)
    app = make_app(gated)
    worker = app.state.worker
    with TestClient(app) as client:
        running, waiting = job(), job("never drawn")
        worker.submit(running)
        wait_until(gated.entered.is_set)
        worker.submit(waiting)
        assert client.post(f"/api/jobs/{waiting.id}/cancel").json()["state"] == "cancelled"
        assert worker.stats()["waiting"] == 0
        gated.release.set()
        assert running.finished_flag.wait(20) and running.state == "done"
        assert waiting.state == "cancelled" and waiting.total == 0  # never ran a step
        assert client.post(f"/api/jobs/{running.id}/cancel").json() == {
            "id": running.id,
            "state": "done",
            "cancelled": False,
        }


def test_one_failing_request_leaves_the_server_up(make_app, pipeline):
    app = make_app(FailingPipeline(pipeline, "boom"))
    with TestClient(app) as client:
        response = client.post("/api/sample", json={"prompt": "boom"})
        assert response.status_code == 500
        assert response.json() == {"error": "sampling failed: RuntimeError: the model fell over", "field": None}
        with client.stream("POST", "/api/sample/stream", json={"prompt": "boom"}) as stream:
            text = stream.read().decode()
        assert "event: error" in text and "the model fell over" in text
        assert client.post("/api/sample", json={"prompt": "a red circle"}).status_code == 200
        stats = client.get("/api/info").json()["queue"]
        assert (stats["failed"], stats["done"]) == (2, 1)


def test_only_the_recent_results_are_kept(make_app):
    app = make_app(recent=2)
    with TestClient(app) as client:
        ids = [
            client.post("/api/sample", json={"prompt": f"shape {i}", "candidates": 1, "keep": 1}).json()["id"]
            for i in range(3)
        ]
        assert [r["id"] for r in client.get("/api/recent").json()] == ids[:0:-1]  # newest first
        assert client.get(f"/api/jobs/{ids[0]}").status_code == 404
        assert client.get(f"/api/jobs/{ids[0]}/images/1.png").status_code == 404
        assert client.get(f"/api/jobs/{ids[2]}/images/1.png").status_code == 200


def test_closing_the_worker_cancels_and_refuses(pipeline):
    gated = GatedPipeline(pipeline)
    worker = Worker(gated, Limits())  # type: ignore[arg-type]
    running, waiting = job(), job()
    worker.submit(running)
    wait_until(gated.entered.is_set)
    worker.submit(waiting)
    closer = threading.Thread(target=worker.close)
    closer.start()
    wait_until(lambda: waiting.finished)
    gated.release.set()
    closer.join(20)
    assert (running.state, waiting.state) == ("cancelled", "cancelled")
    with pytest.raises(FieldError) as info:
        worker.submit(job())
    assert info.value.status == 503


def test_limits_must_be_positive():
    from genkit.errors import InputError

    with pytest.raises(InputError, match="queue=0"):
        Limits(queue=0)
