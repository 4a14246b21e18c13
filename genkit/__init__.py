"""genkit: two-stage discrete generative models (DALL-E), built from plugins.

The public API. Plugins import only the names listed in ``__all__``. Each name is imported on first use (PEP 562),
so that ``import genkit`` (and genkit's pytest plugin, which pytest loads in every session of an environment where
genkit is installed) costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genkit.cpu_allocator import tune_cpu_allocator
    from genkit.errors import ExportError, GenkitError, InputError, PluginError, RecipeError, UnknownComponentError
    from genkit.export import load_component, read_component_config, save_component
    from genkit.plugins.build import build_component, make_params
    from genkit.plugins.context import BuildContext
    from genkit.plugins.hookspecs import hookimpl
    from genkit.plugins.manager import get_plugins, get_registry
    from genkit.plugins.params import MAX_PARAMETERS, Params, too_many_parameters
    from genkit.plugins.registry import ComponentSpec
    from genkit.plugins.specs import RoleSpec, StageSpec
    from genkit.recipe import LoadedRecipe, load_recipe
    from genkit.roles import Autoencoder, Dataset, Example, Judge, Prior, Reranker, TokenBatch, Tokenizer
    from genkit.steps import StepCount, Steps

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Autoencoder": "genkit.roles",
    "BuildContext": "genkit.plugins.context",
    "ComponentSpec": "genkit.plugins.registry",
    "Dataset": "genkit.roles",
    "Example": "genkit.roles",
    "ExportError": "genkit.errors",
    "GenkitError": "genkit.errors",
    "InputError": "genkit.errors",
    "Judge": "genkit.roles",
    "LoadedRecipe": "genkit.recipe",
    "MAX_PARAMETERS": "genkit.plugins.params",
    "Params": "genkit.plugins.params",
    "PluginError": "genkit.errors",
    "Prior": "genkit.roles",
    "RecipeError": "genkit.errors",
    "Reranker": "genkit.roles",
    "RoleSpec": "genkit.plugins.specs",
    "StageSpec": "genkit.plugins.specs",
    "StepCount": "genkit.steps",
    "Steps": "genkit.steps",
    "TokenBatch": "genkit.roles",
    "Tokenizer": "genkit.roles",
    "UnknownComponentError": "genkit.errors",
    "build_component": "genkit.plugins.build",
    "get_plugins": "genkit.plugins.manager",
    "get_registry": "genkit.plugins.manager",
    "hookimpl": "genkit.plugins.hookspecs",
    "load_component": "genkit.export",
    "load_recipe": "genkit.recipe",
    "make_params": "genkit.plugins.build",
    "read_component_config": "genkit.export",
    "save_component": "genkit.export",
    "too_many_parameters": "genkit.plugins.params",
    "tune_cpu_allocator": "genkit.cpu_allocator",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup finds it directly
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Autoencoder",
    "BuildContext",
    "ComponentSpec",
    "Dataset",
    "Example",
    "ExportError",
    "GenkitError",
    "InputError",
    "LoadedRecipe",
    "Params",
    "PluginError",
    "Prior",
    "Judge",
    "RoleSpec",
    "StageSpec",
    "RecipeError",
    "Reranker",
    "StepCount",
    "Steps",
    "TokenBatch",
    "Tokenizer",
    "UnknownComponentError",
    "__version__",
    "build_component",
    "get_plugins",
    "get_registry",
    "hookimpl",
    "load_component",
    "load_recipe",
    "make_params",
    "read_component_config",
    "save_component",
    "tune_cpu_allocator",
    "MAX_PARAMETERS",
    "too_many_parameters",
]
