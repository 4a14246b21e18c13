"""``genkit run RECIPE [KEY=VALUE ...] [--stage S] [--out DIR]``: run a recipe's stages."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from genkit.errors import InputError
from genkit.plugins.manager import get_plugins
from genkit.recipe import dump_recipe, load_recipe

NAME = "run"
HELP = "run a recipe's stages (see --stage for the list, in order) into a run directory"
DESCRIPTION = """\
Validate the recipe (with overrides), write RUN_DIR/recipe.resolved.yaml (every default filled in, stamped
with genkit and plugin versions), then run the stages the recipe names, in order. Each stage writes its export
to RUN_DIR/export/ and its checkpoints, metrics.jsonl and PNG grids to RUN_DIR/<stage>/. A finished stage whose
export matches the recipe is not redone; an interrupted one resumes from its last checkpoint.

Multi-GPU / multi-node: launch the same command with torchrun, e.g.
  torchrun --nproc-per-node 8 -m genkit.cli run recipes/dalle/paper_12b.yaml --out runs/paper
  torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m genkit.cli run ...

examples:
  genkit run shapes/demo --out runs/demo
  genkit run shapes/demo autoencoder=vqvae --out runs/demo_vqvae
  genkit run shapes/demo --stage prior stages.prior.steps=500
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe file or built-in recipe name (see `genkit ls`)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides, e.g. prior.depth=8")
    parser.add_argument("--out", type=Path, help="run directory (default: runs/<recipe name>)")
    stages = get_plugins().registry.stages
    parser.add_argument(
        "--stage",
        choices=list(stages),
        help="run only this stage (earlier exports must exist); stages in pipeline order: "
        + "; ".join(f"{name}: {stage.description}" for name, stage in stages.items()),
    )
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="resume an interrupted stage from its last checkpoint (default: yes)",
    )


def run(args: argparse.Namespace) -> int:
    plugins = get_plugins()
    loaded = load_recipe(args.recipe, args.overrides, plugins)
    run_dir = args.out or Path("runs") / loaded.name
    from genkit.stages.pipeline import planned_stages, run_pipeline

    try:
        stages = planned_stages(loaded.recipe, args.stage, plugins)
    except InputError as exc:
        raise InputError(f"{loaded.source}: {exc}") from None

    def write_resolved() -> None:
        """Called once the recipe is known to be runnable (plan made, data opened), before anything trains:
        a recipe that fails earlier never replaces the one that describes the run's exports."""
        if os.environ.get("RANK", "0") == "0":
            run_dir.mkdir(parents=True, exist_ok=True)
            path = run_dir / "recipe.resolved.yaml"
            tmp = path.with_name(".recipe.resolved.yaml.tmp")
            tmp.write_text(dump_recipe(loaded, plugins), encoding="utf-8")
            os.replace(tmp, path)
            print(f"run directory: {run_dir} (recipe.resolved.yaml written)")

    if not stages:
        write_resolved()
        print("the recipe names no stages: nothing to run")
        return 0
    results = run_pipeline(
        loaded, run_dir, only_stage=args.stage, resume=args.resume, plugins=plugins, on_start=write_resolved
    )
    if os.environ.get("RANK", "0") != "0":  # under torchrun rank 0 reports for all
        return 0
    for stage, metrics in results.items():
        shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if isinstance(v, (int, float)))
        print(f"{stage}: {shown}")
    return 0
