"""An ASGI middleware that refuses request bodies over a size, before they are read whole.

A declared ``Content-Length`` over the limit is answered 413 at once; a body sent without one (chunked) is counted
as it arrives and the request fails with 413 as soon as it passes the limit, so no upload is held past it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """The body passed the limit while it was read (a 413 that FastAPI's body parsing passes through); ``field``
    is the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(413, message)
        self.field = field


class BodyLimit:
    """Wrap ``app``: HTTP request bodies of more than ``max_bytes`` get a 413 JSON error naming the field: ``image``
    for a form upload (multipart), else ``body``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def error(self, scope: Scope) -> tuple[str, str]:
        """The field at fault and the one-line message."""
        kind = dict(scope.get("headers") or []).get(b"content-type", b"")
        field = "image" if kind.startswith(b"multipart/") else "body"
        return field, f"{field}: more than the {self.max_bytes:,} bytes a request may send"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self.refuse(scope, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(*self.error(scope))
            return message

        await self.app(scope, counted, send)

    async def refuse(self, scope: Scope, send: Send) -> None:
        field, message = self.error(scope)
        body = json.dumps({"error": message, "field": field}).encode()
        headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
