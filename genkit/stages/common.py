"""What every stage runner shares: the pipeline's state, the "already done" check, exporting, final metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from genkit.distributed.env import DistEnv, barrier
from genkit.errors import ExportError, InputError
from genkit.export import CONFIG, INDEX, load_component, save_component, write_json_atomic
from genkit.export import role_digest as export_role_digest
from genkit.plugins.build import build_component
from genkit.plugins.context import BuildContext
from genkit.roles.dataset import Dataset

if TYPE_CHECKING:
    from genkit.data.loader import PartSource

FINAL = "final.json"


@dataclass
class PipelineState:
    """Shared by the stage runners of one ``run_pipeline`` call."""

    loaded: Any  # genkit.LoadedRecipe
    run_dir: Path
    plugins: Any
    env: DistEnv
    resume: bool
    dataset: Dataset
    context: BuildContext = field(default_factory=BuildContext)
    progress: bool = True

    @property
    def recipe(self) -> Any:
        return self.loaded.recipe

    @property
    def export_dir(self) -> Path:
        return self.run_dir / "export"

    def stage_dir(self, name: str) -> Path:
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def seed(self, settings: Any) -> int:
        own = getattr(settings, "seed", None)
        seed: int = self.recipe.seed if own is None else own
        return seed

    def params(self, role: str, stage: str) -> Any:
        section = self.plugins.registry.role(role).section
        params = getattr(self.recipe, section)
        if params is None:
            raise InputError(f"{self.loaded.source}: stages.{stage} needs a {section}: section (which {role} to train)")
        return params

    def provide(self, role: str, component: Any) -> None:
        """Add the build-context facts that ``component`` (of ``role``) gives later components to ``context``."""
        self.context = self.context.with_(**self.plugins.registry.role(role).context_from(component))

    def component(self, role: str, needed_by: str) -> Any:
        """Load ``role`` from this run's export (for a later stage), or say which stage must run first."""
        if not (self.export_dir / role / CONFIG).is_file():
            raise InputError(
                f"{self.export_dir}: no {role} export yet; stage {needed_by} needs it "
                f"(run the {role} stage first, e.g. --stage {role})"
            )
        return load_component(self.export_dir, role, self.plugins, device=self.env.device)

    def build(self, role: str, params: Any, context: BuildContext) -> Any:
        return build_component(role, params, context, self.plugins)


def role_digest(state: PipelineState, role: str) -> str:
    """The digest of this run's ``role`` export (:func:`genkit.export.role_digest`)."""
    return export_role_digest(state.export_dir, role)


def stage_fingerprint(state: PipelineState, settings: Any, upstream: dict[str, str] | None = None) -> dict[str, Any]:
    """What a finished stage must still match to be skipped: settings, data, seed, and upstream exports."""
    data = state.recipe.data
    return {
        "settings": settings.model_dump(mode="json") if hasattr(settings, "model_dump") else settings,
        "data": data.model_dump(mode="json") if data is not None else None,
        "seed": state.seed(settings),
        "upstream": upstream or {},
    }


def already_done(
    state: PipelineState, stage: str, role: str, params: Any, context: BuildContext, fingerprint: dict[str, Any]
) -> dict[str, float] | None:
    """The final metrics of ``stage`` if its export matches ``params`` and ``context`` and its ``final.json``
    matches ``fingerprint`` (then the stage is not redone); else ``None``."""
    config_path = state.export_dir / role / CONFIG
    final_path = state.run_dir / stage / FINAL
    if not config_path.is_file() or not final_path.is_file() or not (state.export_dir / INDEX).is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        final = json.loads(final_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    same = (
        config.get("kind") == params.kind
        and config.get("params") == params.model_dump(mode="json", exclude={"kind"})
        and config.get("context") == context.to_json()
        and final.get("fingerprint") == json.loads(json.dumps(fingerprint))
    )
    return {k: float(v) for k, v in final.get("metrics", {}).items()} if same else None


def export(
    state: PipelineState,
    stage: str,
    role: str,
    params: Any,
    context: BuildContext,
    weights: dict[str, torch.Tensor] | None,
    component: Any,
    metrics: dict[str, float],
    fingerprint: dict[str, Any],
) -> None:
    """On rank 0: save ``role`` (a fresh build with ``weights`` loaded, or ``component`` as is) to the run's
    export and write the stage's ``final.json``; every rank then waits for it."""
    if state.env.is_main:
        if weights is not None:
            fresh = state.build(role, params, context)
            try:
                fresh.load_state_dict(weights)
            except RuntimeError as exc:
                raise ExportError(
                    f"{stage}: trained weights do not fit a fresh {role} ({str(exc).splitlines()[0]})"
                ) from None
            component = fresh
        save_component(
            state.export_dir,
            role,
            component,
            params,
            context,
            state.plugins,
            trained_on=fingerprint.get("upstream") or None,
        )
        write_json_atomic(state.run_dir / stage / FINAL, {"metrics": metrics, "fingerprint": fingerprint})
    barrier(state.env)


def train_and_export(
    state: PipelineState, job: Any, role: str, params: Any, context: BuildContext, fingerprint: dict[str, Any]
) -> dict[str, float]:
    """Fit ``job`` (a :class:`genkit.train.job.StageJob`; resuming if asked), export the trained ``role`` and
    ``final.json``, tell the ``genkit_train_end`` observers; returns the final metrics."""
    from genkit.train.loop import Trainer

    identity = {
        "kind": params.kind,
        "params": params.model_dump(mode="json", exclude={"kind"}),
        "context": context.to_json(),
        **{k: v for k, v in fingerprint.items() if k != "settings"},
    }
    trainer = Trainer(replace(job, identity=identity), state.env, state.plugins, progress=state.progress)
    metrics = trainer.fit(resume=state.resume)
    export(state, job.name, role, params, context, trainer.export_state(), None, metrics, fingerprint)
    if state.env.is_main:
        state.plugins.hook.genkit_train_end(
            stage=job.name, run_dir=job.stage_dir, metrics=metrics, export_dir=state.export_dir
        )
    return metrics


def split_captions(split: Any) -> list[str]:
    """Captions of a split's items in order: ``split.captions()`` when it has one, else read item by item."""
    if hasattr(split, "captions"):
        return list(split.captions())
    return [split[i].caption for i in range(len(split))]


def stack_images(split: Any, indices: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
    """The images of items ``indices`` of ``split`` as one batch (on the CPU unless ``device`` is given)."""
    images = torch.stack([split[i].image for i in indices])
    return images if device is None else images.to(device)


def dataset_stream(dataset: Dataset, split: str) -> PartSource | None:
    """``dataset.stream(split)`` when ``dataset`` streams, else ``None``. ``streamed`` and ``stream(name)`` are
    optional members of the ``dataset`` role (:class:`genkit.roles.Dataset`), so they are looked up."""
    if not getattr(dataset, "streamed", False):
        return None
    assert hasattr(dataset, "stream"), f"{type(dataset).__name__} says it is streamed but has no stream(name)"
    source: PartSource = dataset.stream(split)
    return source


def streamed_train(state: PipelineState) -> PartSource | None:
    """The dataset's training stream (a :class:`genkit.data.loader.PartSource`) when it streams, else ``None``."""
    return dataset_stream(state.dataset, "train")


def batch_seed(seed: int, step: int, rank: int, salt: int = 0) -> int:
    """The seed of one rank's random draws for one step's batch (``salt`` separates draws of the same batch)."""
    return (seed * 1_000_003 + step) * 1009 + rank + salt
