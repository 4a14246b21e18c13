"""The FastAPI application of ``genkit serve``: the page, its static files and the JSON API (see docs/serve.md).

The model is loaded once, by :func:`create_app`. No route takes a path: the page's files are read into memory when
the app is made and served by name from that table, and images are served from the worker's memory by job id
(32 hex digits) and rank. Every bad input is a 4xx JSON ``{"error": one line, "field": name or null}``.
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from genkit.sample.pipeline import Pipeline
from genkit.serve.bodylimit import BodyLimit, BodyTooLarge
from genkit.serve.jobs import Job, Worker
from genkit.serve.limits import SAMPLE_FIELDS, FieldError, Limits, check_options, check_prompt, check_rows
from genkit.serve.limits import decode_upload as decode_image
from genkit.serve.schemas import ERRORS, PNG, STREAM, JobResult, SampleRequest

STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript", "style.css": "text/css"}
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
POLL_S = 0.05
LOCATIONS = ("body", "query", "path", "header", "cookie")  # where FastAPI's validation errors say a field is
HELPER_THREADS = 4  # anyio's pool (upload spooling, file reads): the only threads besides the worker and torch's
FALLBACKS: dict[str, Any] = {
    "candidates": 32,
    "keep": 4,
    "temperature": 1.0,
    "top_k": None,
    "top_p": None,
    "guidance": 0.0,
    "seed": 0,
}


def run_defaults(run_dir: Path, limits: Limits) -> dict[str, Any]:
    """The page's and the API's defaults: the run's ``stages.sample`` (else genkit sample's built-in values),
    candidates capped at ``limits.candidates`` and keep at candidates. A one-line error when the recipe's own
    values are invalid."""
    from genkit.cli.sample import recipe_sample_defaults

    recipe = recipe_sample_defaults(run_dir)
    defaults = {name: recipe.get(name, FALLBACKS[name]) for name in SAMPLE_FIELDS}
    if defaults["seed"] is None:
        defaults["seed"] = 0
    if isinstance(defaults["candidates"], int) and defaults["candidates"] > limits.candidates:
        defaults["candidates"] = limits.candidates
    if isinstance(defaults["keep"], int) and isinstance(defaults["candidates"], int):
        defaults["keep"] = min(defaults["keep"], defaults["candidates"])
    try:
        return check_options(defaults, limits)
    except FieldError as exc:
        raise FieldError(exc.field, f"{run_dir}: stages.sample: {exc.message}") from None


def error_response(exc: FieldError) -> JSONResponse:
    headers = {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    body: dict[str, Any] = {"error": exc.message, "field": exc.field}
    if exc.retry_after is not None:
        body["retry_after"] = exc.retry_after
    return JSONResponse(body, status_code=exc.status, headers=headers)


def create_app(run_dir: str | Path, limits: Limits | None = None, pipeline: Pipeline | None = None) -> FastAPI:
    """The app for the run at ``run_dir``: loads its export (or uses ``pipeline``), reads its sampling defaults
    and the page's files, and starts the worker (stopped when the app shuts down, or by ``app.state.worker``)."""
    run_dir = Path(run_dir)
    limits = limits or Limits()
    pipeline = pipeline or Pipeline.from_run(run_dir)
    defaults = run_defaults(run_dir, limits)
    folder = resources.files("genkit.serve").joinpath("static")
    static = {name: (folder.joinpath(name).read_bytes(), kind) for name, kind in STATIC.items()}
    worker = Worker(pipeline, limits)
    grid_rows, grid_cols = pipeline.autoencoder.grid

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = HELPER_THREADS
        yield
        worker.close()

    app = FastAPI(
        title="genkit serve",
        version="1",
        description="Sample, rerank and complete images with a trained genkit run. See docs/serve.md.",
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.worker = worker
    app.state.limits = limits
    app.state.defaults = defaults
    app.add_middleware(BodyLimit, max_bytes=limits.body_bytes)

    @app.exception_handler(FieldError)
    async def field_error(_: Request, exc: FieldError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ())]  # ("body", "top_k", "int"): the field is the 2nd
        name = loc[1] if len(loc) > 1 and loc[0] in LOCATIONS and first.get("type") != "json_invalid" else None
        message = str(first.get("msg", "invalid")).splitlines()[0]
        return error_response(FieldError(name, f"{name or 'body'}: {message}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = exc.field if isinstance(exc, BodyTooLarge) else None
        return error_response(FieldError(field, str(exc.detail), exc.status_code))

    def lookup(job_id: str) -> Job:
        job = worker.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            raise FieldError("job_id", f"job_id: no job {job_id[:40]!r} (unknown, or no longer among the recent)", 404)
        return job

    def options_of(given: dict[str, Any]) -> dict[str, Any]:
        merged = {name: given[name] if name in given else defaults[name] for name in SAMPLE_FIELDS}
        if "keep" not in given and isinstance(merged["candidates"], int):
            merged["keep"] = min(merged["keep"], max(1, merged["candidates"]))
        return check_options(merged, limits)

    # -- the page ------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        body, kind = static["index.html"]
        return Response(body, media_type=kind)

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        if name not in static:
            raise FieldError("name", f"name: no static file {name[:60]!r}", 404)
        body, kind = static[name]
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    # -- the API ---------------------------------------------------------------------------------------------
    @app.get("/api/info", summary="The run, its sampling defaults, this server's limits and the queue")
    async def info() -> dict[str, Any]:
        return {
            "run": run_dir.resolve().name,
            "image_size": pipeline.autoencoder.image_size,
            "grid": [grid_rows, grid_cols],
            "reranker": pipeline.reranker is not None,
            "defaults": defaults,
            "limits": {
                "prompt_chars": limits.prompt_chars,
                "candidates": limits.candidates,
                "queue": limits.queue,
                "upload_bytes": limits.upload_bytes,
                "upload_pixels": limits.upload_pixels,
                "rows": [1, grid_rows - 1],
            },
            "queue": worker.stats(),
        }

    @app.get("/api/recent", summary="The recent finished results, newest first", response_model=list[JobResult])
    async def recent() -> list[dict[str, Any]]:
        return [job.result for job in worker.recent() if job.result is not None]

    def sample_job(body: SampleRequest) -> Job:
        given = body.model_dump(exclude_unset=True)
        return Job(prompt=check_prompt(body.prompt, limits), options=options_of(given))

    @app.post(
        "/api/sample",
        summary="Draw, rerank and keep the best; waits for the result (a client that leaves cancels it)",
        response_model=JobResult,
        responses=ERRORS,
    )
    async def sample(body: SampleRequest, request: Request) -> JSONResponse:
        return await wait_for(sample_job(body), request)

    @app.post(
        "/api/sample/stream",
        summary="The same, as server-sent events: queued, progress, then result, error or cancelled",
        responses={**STREAM, **ERRORS},
    )
    async def sample_stream(body: SampleRequest) -> StreamingResponse:
        return stream(sample_job(body))

    async def complete_form(
        image: Annotated[UploadFile, File(description="The image to complete (PNG, JPEG, WebP, GIF, BMP).")],
        prompt: Annotated[str, Form(description="The caption.")],
        rows: Annotated[int | None, Form(description="Token rows of the image kept (default half).")] = None,
        candidates: Annotated[int | None, Form()] = None,
        keep: Annotated[int | None, Form()] = None,
        temperature: Annotated[float | None, Form()] = None,
        top_k: Annotated[int | Literal["off"] | None, Form(description="A whole number, or off.")] = None,
        top_p: Annotated[float | Literal["off"] | None, Form(description="In (0, 1], or off.")] = None,
        guidance: Annotated[float | None, Form()] = None,
        seed: Annotated[int | None, Form()] = None,
    ) -> Job:
        values = dict(candidates=candidates, keep=keep, temperature=temperature, top_k=top_k, top_p=top_p)
        values.update(guidance=guidance, seed=seed)
        given = {name: None if value == "off" else value for name, value in values.items() if value is not None}
        job = Job(prompt=check_prompt(prompt, limits), options=options_of(given), kind="complete")
        job.rows = check_rows(rows if rows is not None else grid_rows // 2, grid_rows)
        try:
            data = await image.read(limits.upload_bytes + 1)
        finally:
            await image.close()
        job.prime = decode_image(data, image.content_type, pipeline.autoencoder.image_size, limits)
        return job

    @app.post(
        "/api/complete",
        summary="Complete an uploaded image from its top rows; waits for the result",
        response_model=JobResult,
        responses=ERRORS,
    )
    async def complete(job: Annotated[Job, Depends(complete_form)], request: Request) -> JSONResponse:
        return await wait_for(job, request)

    @app.post("/api/complete/stream", summary="The same, as server-sent events", responses={**STREAM, **ERRORS})
    async def complete_stream(job: Annotated[Job, Depends(complete_form)]) -> StreamingResponse:
        return stream(job)

    @app.get("/api/jobs/{job_id}", summary="A job's state, progress and result", responses=ERRORS)
    async def job_state(job_id: str) -> dict[str, Any]:
        job = lookup(job_id)
        return {**job.summary(), "position": worker.position(job)}

    @app.post("/api/jobs/{job_id}/cancel", summary="Cancel a waiting or running job", responses=ERRORS)
    async def cancel(job_id: str) -> dict[str, Any]:
        lookup(job_id)
        job = worker.cancel(job_id)
        assert job is not None
        return {"id": job.id, "state": job.state, "cancelled": job.cancel_flag.is_set()}

    @app.get(
        "/api/jobs/{job_id}/images/{rank}.png", summary="A kept image (rank 1 = best)", responses={**PNG, **ERRORS}
    )
    async def job_image(job_id: str, rank: int) -> Response:
        job = lookup(job_id)
        if not 1 <= rank <= len(job.images):
            raise FieldError("rank", f"rank: {rank} is not between 1 and {len(job.images)}", 404)
        return png_response(job.images[rank - 1], f"genkit-{job.id[:8]}-{rank}.png")

    @app.get(
        "/api/jobs/{job_id}/grid.png",
        summary="All kept images of a job in one PNG, scores under each",
        responses={**PNG, **ERRORS},
    )
    async def job_grid(job_id: str) -> Response:
        job = lookup(job_id)
        if job.grid is None:
            raise FieldError("job_id", f"job_id: job {job.id} has no images ({job.state})", 404)
        return png_response(job.grid, f"genkit-{job.id[:8]}.png")

    def submit(job: Job) -> int:
        return worker.submit(job)

    async def wait_for(job: Job, request: Request) -> JSONResponse:
        """Queue ``job`` and wait for it; a client that goes away cancels it."""
        submit(job)
        try:
            while not job.finished_flag.is_set():
                if await request.is_disconnected():
                    worker.cancel(job.id)
                    break
                await asyncio.sleep(POLL_S)
        except asyncio.CancelledError:
            worker.cancel(job.id)
            raise
        return outcome_response(job)

    def stream(job: Job) -> StreamingResponse:
        submit(job)
        return StreamingResponse(events(job), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def events(job: Job) -> AsyncIterator[str]:
        """Server-sent events until ``job`` ends; closing the stream cancels the job."""
        try:
            yield sse("queued", {"id": job.id, "position": max(0, worker.position(job))})
            last: tuple[Any, ...] = (job.state, worker.position(job), job.done, job.total)
            while True:
                finished = job.finished_flag.is_set()
                now = (job.state, worker.position(job), job.done, job.total)
                if now != last:
                    last = now
                    if job.state == "queued":
                        yield sse("queued", {"id": job.id, "position": max(0, worker.position(job))})
                    elif not finished:
                        yield sse("progress", {"id": job.id, "done": job.done, "total": job.total})
                if finished:
                    break
                await asyncio.sleep(POLL_S)
            if job.state == "done":
                yield sse("result", job.result)
            else:
                response = json.loads(bytes(outcome_response(job).body))
                yield sse("cancelled" if job.state == "cancelled" else "error", {"id": job.id, **response})
        finally:
            if not job.finished:
                worker.cancel(job.id)

    def outcome_response(job: Job) -> JSONResponse:
        if job.state == "done":
            return JSONResponse(job.result)
        if job.state == "cancelled":
            return error_response(FieldError(None, f"job {job.id} was cancelled", 409))
        return error_response(FieldError(None, job.error or "failed", job.status))

    return app


def sse(event: str, data: Any) -> str:
    """One server-sent event: ``event: NAME`` and one line of JSON data."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def png_response(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="image/png",
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "private, max-age=3600"},
    )
