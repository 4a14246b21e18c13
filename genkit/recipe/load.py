"""Load a recipe: YAML file -> overrides -> validated recipe model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from genkit.errors import InputError, RecipeError
from genkit.plugins.manager import Plugins, get_plugins
from genkit.recipe.checks import cross_section_problems
from genkit.recipe.errors import format_validation_error, source_of
from genkit.recipe.overrides import Override, apply_overrides, parse_override
from genkit.recipe.schema import build_recipe_model
from genkit.recipe.yaml_io import DuplicateKeyError, load_yaml

#: genkit's own recipes: package data of the ``genkit`` package (so in every wheel, not only in a checkout).
_BUILTIN_DIR = Path(__file__).resolve().parents[1] / "recipes"


def recipe_dirs(plugins: Plugins | None = None) -> list[Path]:
    """Where named recipes are looked up, first wins: ``GENKIT_RECIPES_PATH`` (``os.pathsep``-separated), genkit's
    own recipes, then the folders plugins contribute (``genkit_recipe_dirs``), in plugin load order."""
    extra = [Path(p) for p in os.environ.get("GENKIT_RECIPES_PATH", "").split(os.pathsep) if p]
    return [*extra, _BUILTIN_DIR, *(plugins or get_plugins()).recipe_dirs()]


def builtin_recipes() -> dict[str, Path]:
    """``{"shapes/demo": path}`` for every ``*.yaml`` under the recipe directories (first directory wins)."""
    found: dict[str, Path] = {}
    for directory in recipe_dirs():
        if directory.is_dir():
            for path in sorted(directory.rglob("*.yaml")):
                found.setdefault(path.relative_to(directory).with_suffix("").as_posix(), path)
    return found


def find_recipe(name_or_path: str) -> Path:
    """A recipe file path, or the built-in recipe of that name (``shapes/demo``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    known = builtin_recipes()
    if name_or_path in known:
        return known[name_or_path]
    from genkit.plugins.registry import suggest

    raise InputError(
        f"{name_or_path}: no such recipe file or built-in recipe{suggest(name_or_path, list(known))} (see `genkit ls`)"
    )


@dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe and where it came from."""

    recipe: Any  # instance of the model from build_recipe_model
    source: str
    data: dict[str, Any]  # the raw mapping after overrides

    @property
    def name(self) -> str:
        return self.recipe.name or Path(self.source).stem


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        label = "" if isinstance(exc, DuplicateKeyError) else "YAML syntax error: "
        raise InputError(f"{where}: {label}{problem}") from None
    if data is None:
        raise InputError(f"{path}: the recipe is empty (it needs at least a data: section)")
    if not isinstance(data, dict):
        raise InputError(f"{path}: a recipe is a mapping of sections, got a {type(data).__name__}")
    return data


def validate_recipe(
    data: dict[str, Any], source: str, overrides: Sequence[str] = (), plugins: Plugins | None = None
) -> LoadedRecipe:
    """Apply ``overrides`` to ``data``, validate each section, then check the sections against each other
    (:mod:`genkit.recipe.checks`). Raises ``RecipeError`` with one line per problem."""
    plugins = plugins or get_plugins()
    parsed: list[Override] = [parse_override(text) for text in overrides]
    merged = apply_overrides(data, parsed, [role.section for role in plugins.registry.roles.values()])
    model = recipe_model(plugins)
    try:
        recipe = model.model_validate(merged)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(exc, source, merged, model, plugins.registry, parsed)) from None
    problems = cross_section_problems(recipe, plugins.registry)
    if problems:
        lines = []
        for problem in problems:
            where = source_of(source, parsed, problem.loc, *problem.related)
            lines.append(f"{where}: {'.'.join(problem.loc)}: {problem.message}")
        raise RecipeError(lines)
    return LoadedRecipe(recipe, source, merged)


def load_recipe(
    name_or_path: str | Path, overrides: Sequence[str] = (), plugins: Plugins | None = None
) -> LoadedRecipe:
    """Read, override and validate a recipe. Raises ``InputError``/``RecipeError`` with one line per problem."""
    path = find_recipe(str(name_or_path))
    return validate_recipe(read_yaml(path), str(path), overrides, plugins)


def recipe_model(plugins: Plugins | None = None) -> type[BaseModel]:
    """The recipe model for these plugins (built once per plugin set, rebuilt when a plugin is added)."""
    plugins = plugins or get_plugins()
    if plugins.recipe_model is None:
        plugins.recipe_model = build_recipe_model(plugins.registry)
    model: type[BaseModel] = plugins.recipe_model
    return model


def dump_recipe(loaded: LoadedRecipe, plugins: Plugins | None = None) -> str:
    """YAML of the fully resolved recipe (every default filled in), stamped with genkit and plugin versions."""
    from genkit import __version__

    plugins = plugins or get_plugins()
    data = loaded.recipe.model_dump(mode="json", exclude={"resolved_with"})
    data["resolved_with"] = {"genkit": __version__, "source": loaded.source, "plugins": plugins.versions()}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
