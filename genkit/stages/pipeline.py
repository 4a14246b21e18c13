"""``run_pipeline``: run a recipe's stages in order, each exporting into ``RUN/export``.

The stages and their order are the registered :class:`genkit.StageSpec` declarations (genkit's own, in
:mod:`genkit.stages.plugin`: autoencoder -> tokenizer (implied) -> prior -> reranker -> sample). A stage
whose export (params + build context) and ``RUN/<stage>/final.json`` (settings, data, seed, upstream exports)
match the recipe is not redone: its recorded final metrics are returned. Under ``torchrun`` every rank calls
``run_pipeline``; rank 0 writes the exports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.distributed as dist

from genkit.distributed.env import detect, shutdown
from genkit.errors import GenkitError, InputError
from genkit.plugins.build import build_component
from genkit.plugins.context import BuildContext
from genkit.plugins.manager import Plugins, get_plugins
from genkit.plugins.registry import suggest
from genkit.plugins.specs import StageSpec
from genkit.stages.common import PipelineState


def planned_stages(recipe: Any, only_stage: str | None = None, plugins: Plugins | None = None) -> list[str]:
    """The stages to run, in pipeline order, for ``recipe`` (or just ``only_stage``), from the registered
    :class:`genkit.StageSpec` declarations.

    A stage with settings runs when the recipe has its ``stages.NAME`` section. An implied stage (no settings: the
    tokenizer) runs just before the first planned stage that needs the role it trains, when the recipe has that
    role's section. ``only_stage`` must be a registered stage the recipe configures (or, for an implied stage,
    whose role section the recipe has): anything else is one ``InputError`` saying why. It runs with the implied
    stages it needs (``--stage prior`` trains the tokenizer first if that is not done yet; a finished one is
    skipped as usual).
    """
    registry = (plugins or get_plugins()).registry
    stages = registry.stages

    def has_section(stage: StageSpec) -> bool:
        if stage.settings is not None:
            return getattr(recipe.stages, stage.name, None) is not None
        return stage.trains is not None and getattr(recipe, registry.role(stage.trains).section, None) is not None

    if only_stage is not None:
        stage = stages.get(only_stage)
        if stage is None:
            raise InputError(
                f"--stage {only_stage}: unknown stage{suggest(only_stage, list(stages))} (stages: {', '.join(stages)})"
            )
        if not has_section(stage):
            missing = f"stages.{only_stage}" if stage.settings is not None else registry.role(str(stage.trains)).section
            raise InputError(f"--stage {only_stage}: the recipe has no {missing} section")
        if stage.implied:
            return [only_stage]
        named = [only_stage]
    else:
        named = [name for name, stage in stages.items() if stage.settings is not None and has_section(stage)]
    needed = {role for name in named for role in stages[name].needs}
    return [
        name
        for name, stage in stages.items()
        if name in named or (stage.implied and stage.trains in needed and has_section(stage))
    ]


PARTIAL = (".tmp-step_", ".recipe.resolved.yaml.tmp")


def remove_partial_files(run_dir: Path) -> list[Path]:
    """Remove what a killed run left half-written: checkpoint directories being assembled (``.tmp-step_*``),
    export roles being staged (``export/.ROLE.*``), and temporary files of atomic writes (``.*.tmp``). Complete
    files are never touched. Returns what was removed."""
    import shutil

    removed: list[Path] = []
    if not Path(run_dir).is_dir():
        return removed
    for path in sorted(Path(run_dir).rglob(".*"), reverse=True):
        staged = path.parent.name == "export" and path.is_dir()
        if path.name.startswith(PARTIAL) or (path.name.endswith(".tmp") and path.is_file()) or staged:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def run_pipeline(
    loaded: Any,
    run_dir: Path,
    *,
    only_stage: str | None = None,
    resume: bool = True,
    plugins: Any = None,
    progress: bool = True,
    on_start: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the recipe's training stages into ``run_dir``; returns ``{stage: final metrics}``. ``on_start`` is
    called once the plan is made and the data opens, before any stage runs.

    Raises ``genkit.InputError`` for bad input and ``genkit.GenkitError`` for failures (one line each).
    """
    plugins = plugins or get_plugins()
    run_dir = Path(run_dir)
    recipe = loaded.recipe
    plan = planned_stages(recipe, only_stage, plugins)
    joined_here = not (dist.is_available() and dist.is_initialized())
    env = detect()
    state: PipelineState | None = None
    try:
        if env.is_main:
            remove_partial_files(run_dir)
        dataset = build_component("dataset", recipe.data, BuildContext(), plugins)
        if hasattr(dataset, "check"):
            dataset.check()  # cheap: the files are there (a folder's index, a pattern's shards)
        state = PipelineState(loaded, run_dir, plugins, env, resume, dataset, progress=progress)
        state.provide("dataset", dataset)
        if on_start is not None:
            on_start()
        results: dict[str, dict[str, Any]] = {}
        for name in plan:
            results[name] = dict(plugins.registry.stages[name].run(state))
        return results
    except GenkitError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise GenkitError(f"{run_dir}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    finally:
        if joined_here and env.distributed:  # a torchrun launch: release the models, then leave the group
            state = None
            shutdown()
