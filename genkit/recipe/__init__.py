"""Recipes: YAML files that assemble components by kind, validated against the loaded plugins."""

from genkit.recipe.load import (
    LoadedRecipe,
    builtin_recipes,
    dump_recipe,
    find_recipe,
    load_recipe,
    recipe_model,
    validate_recipe,
)
from genkit.recipe.overrides import Override, apply_overrides, parse_override
from genkit.stages.settings import PriorStage, RerankerStage, SampleStage, TrainStage

__all__ = [
    "LoadedRecipe",
    "Override",
    "PriorStage",
    "RerankerStage",
    "SampleStage",
    "TrainStage",
    "apply_overrides",
    "builtin_recipes",
    "dump_recipe",
    "find_recipe",
    "load_recipe",
    "parse_override",
    "recipe_model",
    "validate_recipe",
]
