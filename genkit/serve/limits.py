"""What a request to ``genkit serve`` may ask for, and the checks that turn bad input into one-line field errors.

Every check here raises :class:`FieldError` (``field``, one-line ``message``, HTTP ``status``) and never touches
the model: bad input costs nothing. Uploaded images are decoded and verified with Pillow, from memory only.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from genkit.errors import InputError

#: Image formats an upload may be (Pillow's names) and the content types a browser sends for them.
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}
IMAGE_TYPES = frozenset(IMAGE_FORMATS.values()) | {"image/jpg", "image/x-ms-bmp"}
SAMPLE_FIELDS = ("candidates", "keep", "temperature", "top_k", "top_p", "guidance", "seed")


class FieldError(Exception):
    """A bad request: ``field`` (``None`` when no single field is at fault), a one-line ``message``, an HTTP status
    (4xx), and for 429 the seconds after which to retry."""

    def __init__(self, field: str | None, message: str, status: int = 422, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    """The server's bounds. ``queue``: requests that may wait behind the running one (one more is a 429);
    ``recent``: finished results kept in memory (their images stay downloadable); ``upload_bytes``: the largest
    image file accepted; ``upload_pixels``: the most pixels it may declare (checked before it is decoded)."""

    prompt_chars: int = 300
    candidates: int = 256
    queue: int = 8
    recent: int = 16
    upload_bytes: int = 4 * 1024 * 1024
    upload_pixels: int = 4096 * 4096

    def __post_init__(self) -> None:
        for name in ("prompt_chars", "candidates", "queue", "recent", "upload_bytes", "upload_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"serve limit {name}={value!r}: must be a whole number of at least 1")

    @property
    def body_bytes(self) -> int:
        """The largest request body read: an upload plus room for the form's other fields."""
        return self.upload_bytes + 64 * 1024


def check_prompt(prompt: Any, limits: Limits) -> str:
    """``prompt`` stripped of surrounding whitespace, or a :class:`FieldError` on ``prompt``: not a string, empty,
    or longer than ``limits.prompt_chars`` characters."""
    if not isinstance(prompt, str):
        raise FieldError("prompt", f"prompt: must be a string, got {type(prompt).__name__}")
    text = prompt.strip()
    if not text:
        raise FieldError("prompt", "prompt: empty (give a caption to draw)")
    if len(text) > limits.prompt_chars:
        raise FieldError(
            "prompt", f"prompt: {len(text)} characters, more than the {limits.prompt_chars} this server accepts"
        )
    return text


def check_options(options: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The sampling options (:data:`SAMPLE_FIELDS`), checked; a :class:`FieldError` naming the first bad field.

    The rules are :func:`genkit.sample.pipeline.check_sample_options`' (its message, the field it names first),
    plus this server's ``limits.candidates``."""
    from genkit.sample.pipeline import check_sample_options

    named: list[str] = []

    def name(argument: str, value: Any) -> str:
        named.append(argument)
        return f"{argument}={value!r}"

    candidates = options.get("candidates")
    if isinstance(candidates, int) and not isinstance(candidates, bool) and candidates > limits.candidates:
        raise FieldError(
            "candidates", f"candidates={candidates}: more than the {limits.candidates} this server draws per request"
        )
    for field in ("temperature", "top_p", "guidance"):
        value = options.get(field)
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldError(field, f"{field}={value!r}: must be a finite number")
    try:
        check_sample_options(**{key: options.get(key) for key in SAMPLE_FIELDS}, name=name)
    except InputError as exc:
        raise FieldError(named[0] if named else None, str(exc)) from None
    return {key: options.get(key) for key in SAMPLE_FIELDS}


def check_rows(rows: Any, grid_rows: int) -> int:
    """``rows`` (token rows of the upload kept) as an int in [1, grid_rows - 1], else a :class:`FieldError`."""
    if not isinstance(rows, int) or isinstance(rows, bool) or not 0 < rows < grid_rows:
        raise FieldError("rows", f"rows={rows!r}: must be from 1 to {grid_rows - 1} (the token grid has {grid_rows})")
    return rows


def decode_upload(data: bytes, content_type: str | None, size: int, limits: Limits) -> torch.Tensor:
    """An uploaded image file -> ``float[3, size, size]`` in [0, 1] (short side resized to ``size``, centre crop).

    A :class:`FieldError` on ``image``: empty (400), over ``limits.upload_bytes`` (413), a declared content type
    that is not an image (415), not an image Pillow recognises or not one of :data:`IMAGE_FORMATS` (415), more
    than ``limits.upload_pixels`` pixels (413), or truncated / damaged (422). Decoded from memory only."""
    from genkit.data.preprocess import UnreadableImage, load_rgb, resize_short_side, square_crop, to_uint8

    if not data:
        raise FieldError("image", "image: empty upload (choose an image file)", 400)
    if len(data) > limits.upload_bytes:
        raise FieldError(
            "image", f"image: {len(data):,} bytes, more than the {limits.upload_bytes:,} this server accepts", 413
        )
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and kind != "application/octet-stream" and kind not in IMAGE_TYPES:
        raise FieldError("image", f"image: content type {kind!r} is not an image (PNG, JPEG, WebP, GIF or BMP)", 415)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            found = probe.format
            width, height = probe.size
            probe.verify()
    except UnidentifiedImageError:
        raise FieldError("image", "image: not an image file Pillow can read", 415) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FieldError("image", f"image: a damaged image file ({detail})") from None
    if found not in IMAGE_FORMATS:
        raise FieldError("image", f"image: {found} files are not accepted (PNG, JPEG, WebP, GIF or BMP)", 415)
    if width * height > limits.upload_pixels:
        raise FieldError(
            "image", f"image: {width}x{height} pixels, more than the {limits.upload_pixels:,} this server accepts", 413
        )
    try:
        rgb = load_rgb(io.BytesIO(data))
    except UnreadableImage as exc:
        raise FieldError("image", f"image: {exc}") from None
    return square_crop(to_uint8(resize_short_side(rgb, size)), size)
