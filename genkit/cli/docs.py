"""``genkit docs --out DIR``: write the reference pages (every role, kind and parameter) from the registry."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "docs"
HELP = "write reference pages (every role, kind and parameter) generated from the installed plugins"
DESCRIPTION = """\
Write one Markdown page per role (its contract and every registered kind with each parameter's type, default
and description) and one for the stage settings. genkit's own docs/reference/ is made this way.

example:
  genkit docs --out docs/reference
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("docs/reference"), help="output folder (default docs/reference)")


def run(args: argparse.Namespace) -> int:
    from genkit.docgen import write_reference

    for path in write_reference(args.out):
        print(f"wrote {path}")
    return 0
