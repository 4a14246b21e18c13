"""The one model, its one worker thread and a bounded queue of sampling jobs.

Requests become :class:`Job` objects; :meth:`Worker.submit` queues one or refuses it (429, with a retry hint) when
``limits.queue`` jobs already wait. A single thread runs them one at a time through :meth:`Pipeline.sample`; its
progress callback, called after every decode step, raises :class:`Cancelled` once a job's cancel flag is set, so a
cancelled job (or one whose client went away) stops within one step. Any failure of one job is caught and recorded
on that job: the worker and the server carry on. Finished jobs are kept, newest ``limits.recent``, with their PNGs.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from genkit.errors import InputError
from genkit.images import image_grid, tensor_to_pil
from genkit.sample.pipeline import Pipeline
from genkit.serve.limits import FieldError, Limits

log = logging.getLogger("genkit.serve")

FINISHED = ("done", "failed", "cancelled")


class Cancelled(Exception):
    """Raised inside the sampler (from its progress callback) to stop a job whose cancel flag is set."""


def png_bytes(image: torch.Tensor) -> bytes:
    """``float[3, H, W]`` in [0, 1] -> PNG file bytes."""
    buffer = io.BytesIO()
    tensor_to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Job:
    """One request: draw ``options["candidates"]`` for ``prompt`` (completing ``prime``'s top ``rows`` token rows
    when given) and keep the best ``options["keep"]``.

    ``state`` goes queued -> running -> done | failed | cancelled; ``done``/``total`` count decode steps;
    ``result`` is the JSON answer once done, ``images`` the kept PNGs best first, ``grid`` one PNG of them all;
    ``error``/``status`` say why it failed (a one-line message, an HTTP status)."""

    prompt: str
    options: dict[str, Any]
    kind: str = "sample"
    rows: int | None = None
    prime: torch.Tensor | None = field(default=None, repr=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "queued"
    done: int = 0
    total: int = 0
    created: float = field(default_factory=time.time)
    seconds: float | None = None
    result: dict[str, Any] | None = None
    images: list[bytes] = field(default_factory=list, repr=False)
    grid: bytes | None = field(default=None, repr=False)
    error: str | None = None
    status: int = 200
    cancel_flag: threading.Event = field(default_factory=threading.Event, repr=False)
    finished_flag: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def summary(self) -> dict[str, Any]:
        """The job as JSON: id, kind, state, progress, the echoed request, and the result or error once known."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "prompt": self.prompt,
            "options": dict(self.options),
            "rows": self.rows,
            "done": self.done,
            "total": self.total,
        }
        if self.result is not None:
            data["result"] = self.result
        if self.error is not None:
            data["error"] = self.error
        return data


class Worker:
    """Runs :class:`Job` s on ``pipeline`` in one thread, at most ``limits.queue`` waiting. Thread-safe."""

    def __init__(self, pipeline: Pipeline, limits: Limits) -> None:
        self.pipeline = pipeline
        self.limits = limits
        self._lock = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}
        self._recent: deque[str] = deque()
        self._running: Job | None = None
        self._durations: deque[float] = deque(maxlen=16)
        self._stopping = False
        self.peak_waiting = 0
        self.counts = {"done": 0, "failed": 0, "cancelled": 0, "refused": 0}
        self._thread = threading.Thread(target=self._loop, name="genkit-serve-worker", daemon=True)
        self._thread.start()

    # -- requests --------------------------------------------------------------------------------------
    def submit(self, job: Job) -> int:
        """Queue ``job``; its place among the waiting jobs (0 = next). A :class:`FieldError` 429 with a retry hint
        when ``limits.queue`` jobs already wait, or 503 once the worker is stopping."""
        with self._lock:
            if self._stopping:
                raise FieldError(None, "the server is shutting down", 503)
            if len(self._waiting) >= self.limits.queue:
                self.counts["refused"] += 1
                retry = self._retry_after_locked()
                raise FieldError(
                    None,
                    f"busy: {len(self._waiting)} requests already wait (the queue holds {self.limits.queue}); "
                    f"retry in about {retry} s",
                    429,
                    retry_after=retry,
                )
            self._waiting.append(job)
            self._jobs[job.id] = job
            self.peak_waiting = max(self.peak_waiting, len(self._waiting))
            self._lock.notify_all()
            return len(self._waiting) - 1

    def cancel(self, job_id: str) -> Job | None:
        """Set the cancel flag of job ``job_id`` (a waiting one is dropped at once, a running one stops at its next
        decode step); the job, or ``None`` when no such job is kept. A finished job is left as it is."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.finished:
                return job
            job.cancel_flag.set()
            if job in self._waiting:
                self._waiting.remove(job)
                self._finish_locked(job, "cancelled")
            return job

    def get(self, job_id: str) -> Job | None:
        """Job ``job_id`` while it waits or runs, or while it is among the recent finished ones; else ``None``."""
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """``job``'s place among the waiting jobs (0 = next), or -1 once it runs or has finished."""
        with self._lock:
            try:
                return self._waiting.index(job)
            except ValueError:
                return -1

    def running(self) -> Job | None:
        """The job being sampled now, if any."""
        with self._lock:
            return self._running

    def recent(self) -> list[Job]:
        """The kept finished jobs that succeeded, newest first."""
        with self._lock:
            return [self._jobs[i] for i in reversed(self._recent) if self._jobs[i].state == "done"]

    def stats(self) -> dict[str, Any]:
        """Queue state as JSON: waiting, running, bound, the most that ever waited, and counts by outcome."""
        with self._lock:
            return {
                "waiting": len(self._waiting),
                "running": 0 if self._running is None else 1,
                "bound": self.limits.queue,
                "peak_waiting": self.peak_waiting,
                **self.counts,
            }

    def close(self, timeout: float = 10.0) -> None:
        """Stop: cancel the waiting and the running job, then wait up to ``timeout`` s for the thread to end."""
        with self._lock:
            self._stopping = True
            for job in list(self._waiting):
                job.cancel_flag.set()
                self._finish_locked(job, "cancelled")
            self._waiting.clear()
            if self._running is not None:
                self._running.cancel_flag.set()
            self._lock.notify_all()
        self._thread.join(timeout)

    # -- the thread ------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                job.state = "running"
                self._running = job
            started = time.perf_counter()
            outcome, error, status = "done", None, 200
            try:
                self._run(job)
            except Cancelled:
                outcome = "cancelled"
            except (InputError, FieldError) as exc:
                outcome, error, status = "failed", str(exc).splitlines()[0], 422
            except Exception as exc:  # one request's failure never stops the server
                log.exception("job %s failed", job.id)
                outcome, error, status = "failed", f"sampling failed: {type(exc).__name__}: {exc}".splitlines()[0], 500
            with self._lock:
                job.error, job.status = error, status
                job.seconds = round(time.perf_counter() - started, 3)
                if outcome == "done":
                    self._durations.append(job.seconds)
                self._running = None
                self._finish_locked(job, outcome)

    def _run(self, job: Job) -> None:
        """Sample ``job`` (checking its cancel flag after every decode step) and fill its result and PNGs."""

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total
            if job.cancel_flag.is_set():
                raise Cancelled

        if job.cancel_flag.is_set():
            raise Cancelled
        warnings: list[str] = []
        started = time.perf_counter()
        samples = self.pipeline.sample(
            [job.prompt],
            prime_image=job.prime,
            prime_rows=job.rows,
            progress=progress,
            warn=warnings.append,
            **job.options,
        )[0]
        if job.cancel_flag.is_set():
            raise Cancelled
        job.images = [png_bytes(image) for image in samples.images]
        labels = [
            f"#{rank + 1} cand {index}" + ("" if samples.scores is None else f"\n{samples.scores[rank]:.3f}")
            for rank, index in enumerate(samples.indices)
        ]
        scale = max(1, 128 // max(1, samples.images.shape[-1]))
        buffer = io.BytesIO()
        image_grid(samples.images, nrow=len(labels), labels=labels, scale=scale).save(buffer, format="PNG")
        job.grid = buffer.getvalue()
        job.result = {
            "id": job.id,
            "kind": job.kind,
            "prompt": job.prompt,
            "options": dict(job.options),
            "rows": job.rows,
            "candidates": samples.candidates,
            "seconds": round(time.perf_counter() - started, 3),
            "warnings": warnings,
            "grid_url": f"/api/jobs/{job.id}/grid.png",
            "images": [
                {
                    "rank": rank + 1,
                    "candidate": index,
                    "score": None if samples.scores is None else round(samples.scores[rank], 6),
                    "url": f"/api/jobs/{job.id}/images/{rank + 1}.png",
                }
                for rank, index in enumerate(samples.indices)
            ],
        }

    def _finish_locked(self, job: Job, outcome: str) -> None:
        job.state = outcome
        job.prime = None  # the upload is not kept once the job is over
        self.counts[outcome] += 1
        self._recent.append(job.id)
        while len(self._recent) > self.limits.recent:
            self._jobs.pop(self._recent.popleft(), None)
        job.finished_flag.set()

    def _retry_after_locked(self) -> int:
        """Seconds until a place is likely free: the mean time of recent jobs times the jobs ahead (at least 1)."""
        mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
        ahead = len(self._waiting) + (0 if self._running is None else 1)
        return max(1, min(3600, round(mean * ahead)))
