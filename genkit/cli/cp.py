"""``genkit cp NAME DEST``: copy a built-in recipe to edit it."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from genkit.errors import InputError
from genkit.plugins.registry import suggest
from genkit.recipe import builtin_recipes

NAME = "cp"
HELP = "copy a built-in recipe to a file you can edit"
DESCRIPTION = """\
Copy a built-in recipe (see `genkit ls`) to DEST (a file, or a directory to copy into).
Refuses to overwrite an existing file unless --force.

example:
  genkit cp shapes/demo my_demo.yaml && genkit run my_demo.yaml
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="built-in recipe name, e.g. shapes/demo")
    parser.add_argument("dest", type=Path, help="destination file or directory")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    recipes = builtin_recipes()
    if args.name not in recipes:
        raise InputError(f"{args.name}: no such built-in recipe{suggest(args.name, list(recipes))} (see `genkit ls`)")
    source = recipes[args.name]
    dest = args.dest / source.name if args.dest.is_dir() else args.dest
    if dest.exists() and not args.force:
        raise InputError(f"{dest}: already exists (use --force to overwrite)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    print(f"copied {args.name} to {dest}")
    return 0
