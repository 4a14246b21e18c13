"""``run_pipeline``: run a recipe's stages in order, each exporting into ``RUN/export``.

Order: autoencoder -> tokenizer (trained on the captions when the recipe has one and a later stage needs it) ->
prior -> reranker -> sample. Each runner is one module under ``genkit/stages/`` listed in :data:`RUNNERS`. A stage
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
from genkit.plugins.manager import get_plugins
from genkit.stages import autoencoder, prior, reranker, sample, tokenizer
from genkit.stages.common import PipelineState

#: name -> runner(state) -> final metrics, in pipeline order.
RUNNERS: dict[str, Callable[[PipelineState], dict[str, float]]] = {
    "autoencoder": autoencoder.run,
    "tokenizer": tokenizer.run,
    "prior": prior.run,
    "reranker": reranker.run,
    "sample": sample.run,
}

#: stages the recipe names under ``stages:`` (the tokenizer is implied by the recipe's ``tokenizer:`` section).
TRAIN_STAGES = ("autoencoder", "prior", "reranker")


def planned_stages(recipe: Any, only_stage: str | None = None) -> list[str]:
    """The runners to call, in order, for ``recipe`` (or just ``only_stage``)."""
    named = [name for name in RUNNERS if name != "tokenizer" and getattr(recipe.stages, name, None) is not None]
    if only_stage is not None:
        if only_stage == "tokenizer":
            if recipe.tokenizer is None:
                raise InputError("--stage tokenizer: the recipe has no tokenizer: section")
            return ["tokenizer"]
        if only_stage not in RUNNERS:
            known = ", ".join(list(RUNNERS))
            raise InputError(f"--stage {only_stage}: unknown stage (stages: {known})")
        if only_stage not in named:
            raise InputError(f"--stage {only_stage}: the recipe has no stages.{only_stage} section")
        named = [only_stage]
    plan = []
    for name in named:
        if name in ("prior", "reranker") and recipe.tokenizer is not None and "tokenizer" not in plan:
            plan.append("tokenizer")
        plan.append(name)
    return plan


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
) -> dict[str, dict]:
    """Run the recipe's training stages into ``run_dir``; returns ``{stage: final metrics}``. ``on_start`` is
    called once the plan is made and the data opens, before any stage runs.

    Raises ``genkit.InputError`` for bad input and ``genkit.GenkitError`` for failures (one line each).
    """
    plugins = plugins or get_plugins()
    run_dir = Path(run_dir)
    recipe = loaded.recipe
    plan = planned_stages(recipe, only_stage)
    joined_here = not (dist.is_available() and dist.is_initialized())
    env = detect()
    state = PipelineState(loaded, run_dir, plugins, env, resume, progress=progress)
    try:
        if env.is_main:
            remove_partial_files(run_dir)
        state.dataset = build_component("dataset", recipe.data, BuildContext(), plugins)
        if hasattr(state.dataset, "check"):
            state.dataset.check()  # cheap: the files are there (a folder's index, a pattern's shards)
        state.context = BuildContext(image_size=int(state.dataset.image_size))
        if on_start is not None:
            on_start()
        results: dict[str, dict] = {}
        for name in plan:
            results[name] = RUNNERS[name](state)
        return results
    except GenkitError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise GenkitError(f"{run_dir}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    finally:
        if joined_here and env.distributed:  # a torchrun launch: release the models, then leave the group
            state = None
            shutdown()
