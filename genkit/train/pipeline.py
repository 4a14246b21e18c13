"""``run_pipeline``: run a recipe's stages in order, each exporting into ``RUN/export``.

Order: autoencoder -> tokenizer (trained on the captions when the recipe has one and a later stage needs it) ->
prior -> reranker -> sample. Each runner is one module under ``genkit/train/stages/`` listed in :data:`RUNNERS`. A stage
whose export (params + build context) and ``RUN/<stage>/final.json`` (settings, data, seed, upstream exports)
match the recipe is not redone: its recorded final metrics are returned. Under ``torchrun`` every rank calls
``run_pipeline``; rank 0 writes the exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch.distributed as dist

from genkit.build import build_component
from genkit.context import BuildContext
from genkit.distributed.env import detect, shutdown
from genkit.errors import GenkitError, InputError
from genkit.plugins import get_plugins
from genkit.train.stages import autoencoder, prior, reranker, sample, tokenizer
from genkit.train.stages.common import PipelineState

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


def run_pipeline(loaded: Any, run_dir: Path, *, only_stage: str | None = None, resume: bool = True,
                 plugins: Any = None, progress: bool = True) -> dict[str, dict]:
    """Run the recipe's training stages into ``run_dir``; returns ``{stage: final metrics}``.

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
        state.dataset = build_component("dataset", recipe.data, BuildContext(), plugins)
        state.context = BuildContext(image_size=int(state.dataset.image_size))
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
