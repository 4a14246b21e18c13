"""JSON-lines index files (a folder dataset's ``captions.jsonl``, ``genkit data pack`` indexes)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from genkit.errors import InputError


def jsonl_objects(path: Path, lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of ``path``; a line that is not a JSON object is a
    one-line :class:`genkit.InputError` naming ``path:line``."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise InputError(f"{path}:{number}: each line must be a JSON object")
        yield number, item
