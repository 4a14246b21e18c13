"""``genkit ls``: the built-in recipes."""

from __future__ import annotations

import argparse

from genkit.errors import InputError
from genkit.recipe import builtin_recipes
from genkit.recipe.load import read_yaml

NAME = "ls"
HELP = "list the built-in recipes"
DESCRIPTION = """\
List built-in recipes (genkit's own, shipped in the package; folders in GENKIT_RECIPES_PATH; folders plugins
contribute through genkit_recipe_dirs) by name, with their
description. A name works wherever a recipe path does.

example:
  genkit ls && genkit cp shapes/demo my_recipe.yaml
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", action="store_true", help="also print each recipe's file path")


def run(args: argparse.Namespace) -> int:
    recipes = builtin_recipes()
    if not recipes:
        print("no built-in recipes found")
        return 0
    width = max(len(name) for name in recipes)
    for name, path in recipes.items():
        try:
            description = str(read_yaml(path).get("description") or "").strip().splitlines()
        except InputError as exc:
            description = [f"(unreadable: {exc})"]
        line = f"{name:<{width}}  {description[0] if description else ''}"
        print(f"{line}  [{path}]" if args.paths else line)
    return 0
