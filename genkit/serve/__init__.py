"""``genkit serve``: a web page and a JSON API to sample, rerank and complete images with a trained run.

Needs the optional extra ``genkit[serve]`` (FastAPI, uvicorn, python-multipart). Importing this package needs
none of it: :func:`require_extra` says what is missing in one line, and ``genkit.serve.app.create_app`` builds the
application once it is installed. See docs/serve.md.
"""

from __future__ import annotations

import importlib.util

from genkit.errors import InputError

EXTRA_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "multipart": "python-multipart"}


def require_extra() -> None:
    """A one-line :class:`InputError` naming the missing packages unless the ``serve`` extra is installed."""
    missing = [package for module, package in EXTRA_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise InputError(
            f"genkit serve needs the serve extra (missing: {', '.join(missing)}): pip install 'genkit[serve]'"
        )
