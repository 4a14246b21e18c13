"""genkit: two-stage discrete generative models (DALL-E), built from plugins.

The public API. Plugins import only the names listed in ``__all__``.
"""

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
