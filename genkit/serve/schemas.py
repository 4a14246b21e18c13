"""The JSON shapes of ``genkit serve``'s API, for request validation and its OpenAPI schema (``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SampleRequest(BaseModel):
    """``POST /api/sample``: a prompt and the sampling options; an option left out takes the run's default
    (``GET /api/info``'s ``defaults``). ``top_k``/``top_p`` given as ``null`` turn that filter off."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(description="The caption to draw.")
    candidates: int | None = Field(None, description="Candidates drawn (at most the server's limit).")
    keep: int | None = Field(None, description="Best candidates kept, at most candidates.")
    temperature: float | None = Field(None, description="Sampling temperature, > 0.")
    top_k: int | None = Field(None, description="Keep the k most likely image tokens (null: off).")
    top_p: float | None = Field(None, description="Nucleus mass in (0, 1] (null: off).")
    guidance: float | None = Field(None, description="Classifier-free guidance scale, >= 0.")
    seed: int | None = Field(None, description="Sampling seed; the same request and seed give the same pixels.")


class ImageEntry(BaseModel):
    """One kept image: its rank (1 = best), which drawn candidate it was, its reranker score, its PNG's URL."""

    rank: int
    candidate: int = Field(description="Which drawn candidate (0 = first drawn, what no reranking would keep).")
    score: float | None = Field(description="The reranker's score (higher = better match); null without one.")
    url: str


class JobResult(BaseModel):
    """A finished request: the request echoed (prompt, options with defaults filled in, rows), the images best
    first, a grid PNG of them all, and the seconds sampling took."""

    id: str = Field(description="The job id (32 hex digits): GET /api/jobs/{id}, its images and grid.")
    kind: str = Field(description="sample or complete.")
    prompt: str
    options: dict[str, Any]
    rows: int | None = Field(description="Token rows of the upload kept (complete), else null.")
    candidates: int
    seconds: float
    warnings: list[str]
    grid_url: str
    images: list[ImageEntry]


class ErrorBody(BaseModel):
    """Every error: one line, and the request field at fault (null when no single field is)."""

    error: str
    field: str | None
    retry_after: int | None = Field(None, description="429 only: seconds to wait (also the Retry-After header).")


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        404: "Unknown job or image.",
        409: "The job was cancelled.",
        413: "The body or the upload is too large.",
        415: "The upload is not an accepted image.",
        422: "A bad field (named in `field`).",
        429: "The queue is full: retry after `Retry-After` seconds.",
        500: "Sampling failed for this request (the server carries on).",
    }.items()
}
STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Events `queued` {id, position}, `progress` {id, done, total}, then one of `result` (the "
        "JobResult), `error` or `cancelled` (an ErrorBody with the id). Closing the stream cancels the job.",
    }
}
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "A PNG file."}}
