"""The hostile-input suite's harness: the CLI run in-process, file hashes, and the one-line error check.

Every case asserts the exit code, a one-line message naming the place (file, key, option or item), no traceback,
and (where nothing should change) the run directory's files unchanged, by hash.
"""

from __future__ import annotations

import copy
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from tiny import TINY_RECIPE  # noqa: E402


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(args: list[str], capsys) -> Result:
    """``genkit ARGS`` in this process; an exception escaping ``main`` (a traceback for a user) fails the test."""
    from genkit.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def sample_one(run_dir: Path, out: Path, capsys, *extra: object) -> Result:
    """``genkit sample RUN_DIR "a red circle" [EXTRA...] --candidates 2 --keep 1 --out OUT --no-progress``: the
    smallest sampling command, run in this process."""
    args = ["sample", run_dir, "a red circle", *extra, "--candidates", "2", "--keep", "1", "--out", out]
    return run_cli([*args, "--no-progress"], capsys)


def tree_hashes(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


def assert_one_line_error(result: Result, code: int, *names: str) -> None:
    """Exit ``code``; the error is one line (the last on stderr, and the only one there that reads as an error:
    progress notes may precede it) that names each of ``names``; no traceback anywhere."""
    assert result.code == code, (result.code, result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines, "no error message"
    assert "Traceback" not in result.err + result.out
    errors = [line for line in lines[:-1] if line.lower().startswith(("error", "traceback")) or '.py", line' in line]
    assert not errors, result.err
    for name in names:
        assert name in lines[-1], (name, lines[-1])


TINY_RUN_RECIPE = copy.deepcopy(TINY_RECIPE)
for _stage in TINY_RUN_RECIPE["stages"].values():
    _stage.update(steps=4, validate_every=4, checkpoint_every=2)
TINY_RUN_RECIPE["stages"]["sample"] = {"prompts": ["a red circle"], "candidates": 2, "keep": 1}
