"""``genkit validate RECIPE [KEY=VALUE ...] [--params]``."""

from __future__ import annotations

import argparse

from genkit.errors import InputError
from genkit.plugins.manager import get_plugins
from genkit.recipe import load_recipe

NAME = "validate"
HELP = "check a recipe (and overrides) against the installed plugins"
DESCRIPTION = """\
Validate a recipe file (or built-in recipe name) with optional KEY=VALUE overrides. Prints one line per
problem as FILE: dotted.key: message (with a did-you-mean hint) and exits 2, or prints the components and
stages and exits 0.

examples:
  genkit validate recipes/shapes/demo.yaml
  genkit validate shapes/demo prior.depth=8 autoencoder=vqvae
  genkit validate dalle/paper_12b --params     parameter count and a per-GPU memory plan (meta device):
                                               states, activations, and the GPU count and micro-batch that fit
  genkit validate dalle/paper_12b --params --gpu-memory 141     the same for 141 GiB GPUs (H200)
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe file or built-in recipe name (see `genkit ls`)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides, e.g. prior.depth=8")
    parser.add_argument(
        "--params",
        action="store_true",
        help="build the prior on the meta device and print `parameters: N` and a per-GPU memory plan",
    )
    parser.add_argument(
        "--gpu-memory",
        type=float,
        default=80.0,
        metavar="GIB",
        help="with --params: the GPU memory the plan fits micro-batches into (default 80)",
    )


def run(args: argparse.Namespace) -> int:
    plugins = get_plugins()
    loaded = load_recipe(args.recipe, args.overrides, plugins)
    parts = []
    for role in plugins.registry.roles.values():
        params = getattr(loaded.recipe, role.section)
        if params is not None:
            parts.append(f"{role.section}={params.kind}")
    stages = loaded.recipe.stages.names()
    print(f"ok: {loaded.source}: {', '.join(parts)}; stages: {', '.join(stages) or 'none'}")
    if args.params:
        from genkit.sizing import memory_plan_report

        if not 0 < args.gpu_memory < 1e6:
            raise InputError(f"--gpu-memory {args.gpu_memory:g}: must be a number of GiB above 0")
        print(memory_plan_report(loaded, plugins, gpu_memory_gib=args.gpu_memory))
    return 0
