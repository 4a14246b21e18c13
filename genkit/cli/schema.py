"""``genkit schema``: the JSON Schema of recipes for the installed plugins (for editors and CI linters)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genkit.recipe import recipe_model

NAME = "schema"
HELP = "print the JSON Schema of the recipe format (installed plugins included)"
DESCRIPTION = """\
Print (or write) the JSON Schema of recipe files as the installed plugins define it. Point your editor's YAML
language server at it for completion and validation while you write recipes.

example:
  genkit schema --out recipe.schema.json
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="write to this file instead of standard output")


def run(args: argparse.Namespace) -> int:
    text = json.dumps(recipe_model().model_json_schema(), indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0
