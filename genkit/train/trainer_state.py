"""What a :class:`genkit.train.loop.Trainer` saves, restores and exports: its checkpoints (model, optimizer, EMA,
scaler, schedule, data position, random state; sharded under FSDP2) and the full state dict a stage exports.

A mixin of ``Trainer`` (one class, two files): it reads the trainer's attributes named in the annotations below.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch

from genkit.data.loader import TrainStream
from genkit.distributed.env import DistEnv, broadcast_object
from genkit.errors import ExportError
from genkit.precision import NoScaler, PerResblockScaler
from genkit.train import checkpoint as ckpt
from genkit.train.ema import ParameterEMA
from genkit.train.job import StageJob
from genkit.train.schedules import LRSchedule


class TrainerState:
    """Checkpoint and export methods of ``Trainer``; the attributes are the trainer's (set in its ``__init__``)."""

    # The trainer's attributes this mixin reads or sets (annotations only).
    env: DistEnv
    settings: Any  # the stage's settings (StageJob.settings)
    job: StageJob
    model: torch.nn.Module
    wrapped: Any
    optimizer: torch.optim.Optimizer
    ema: ParameterEMA | None
    scaler: NoScaler | PerResblockScaler
    schedule: LRSchedule
    data: TrainStream
    step: int
    sharded: bool
    fingerprint: str
    recipe_key: str
    last_validation: dict[str, float]

    _hook: Callable[..., None]  # the trainer's method: call every plugin's hook of that name

    # -- state ------------------------------------------------------------------------------------------------
    def _tensors(self) -> dict[str, Any]:
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import get_state_dict

            model_sd, optim_sd = get_state_dict(self.wrapped, self.optimizer)
            tensors = {"model": model_sd, "optimizer": optim_sd}
        else:
            tensors = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.ema is not None:
            tensors["ema"] = self.ema.state_dict()
        return tensors

    def _extra(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rng": ckpt.rng_state(),
            "scaler": self.scaler.state_dict(),
            "schedule": self.schedule.state_dict(),
            "data": self.data.state_dict(),
            "last_validation": dict(self.last_validation),
        }

    def save(self) -> Path:
        path = ckpt.save_checkpoint(
            self.job.stage_dir,
            self.step,
            self._tensors(),
            self._extra(),
            {"fingerprint": self.fingerprint, "stage": self.job.name},
            self.env,
            self.sharded,
        )
        if self.env.is_main:
            self._hook("genkit_checkpoint_saved", stage=self.job.name, step=self.step, path=path)
        return path

    def restore(self, path: Path) -> None:
        template = self._tensors()
        tensors, extra = ckpt.load_checkpoint(path, template, self.env, self.fingerprint)
        try:
            if self.sharded:
                from torch.distributed.checkpoint.state_dict import set_state_dict

                set_state_dict(
                    self.wrapped,
                    self.optimizer,
                    model_state_dict=tensors["model"],
                    optim_state_dict=tensors["optimizer"],
                )
            else:
                self.model.load_state_dict(tensors["model"])
                self.optimizer.load_state_dict(tensors["optimizer"])
            if self.ema is not None:
                self.ema.load_state_dict(tensors["ema"])
            self.scaler.load_state_dict(extra["scaler"])
            self.schedule.load_state_dict(extra["schedule"])
            if "data" in extra:
                self.data.load_state_dict(extra["data"], self.recipe_key)
            else:  # written before the data loader: the position follows from the step
                self.data.load_state_dict({"counter": int(extra["step"]) * self.settings.accumulate}, self.recipe_key)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ExportError(f"{path}: checkpoint does not fit this run ({str(exc).splitlines()[0]})") from None
        self.step = int(extra["step"])
        self.last_validation = dict(extra.get("last_validation", {}))
        ckpt.set_rng_state(extra["rng"])

    def _resume(self, resume: bool) -> None:
        """Restore the newest intact checkpoint (when ``resume``); a corrupt newest one falls back to the older."""
        env = self.env
        candidates = broadcast_object(
            ckpt.complete_checkpoints(self.job.stage_dir)[::-1] if resume and env.is_main else [], env
        )
        for number, path in enumerate(candidates):
            try:
                self.restore(Path(path))
            except ckpt.CorruptCheckpoint as exc:
                if number + 1 < len(candidates):
                    if env.is_main:
                        note(f"{exc}; falling back to {candidates[number + 1]}")
                    continue
                raise
            if env.is_main:
                note(f"{self.job.name}: resuming from step {self.step} ({path})")
            return

    def export_state(self) -> dict[str, torch.Tensor] | None:
        """The full model state dict to export (EMA weights when enabled), on rank 0; ``None`` on other ranks.

        Collective under FSDP2: every rank must call it."""
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            options = StateDictOptions(full_state_dict=True, cpu_offload=True)
            gathered = get_model_state_dict(self.wrapped, options=options)
            # typed as any state-dict value; a model's full state dict holds only tensors
            state = {k.removeprefix("module."): cast(torch.Tensor, v) for k, v in gathered.items()}
        else:
            state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        if self.ema is not None:
            for name, shadow in self.ema.shadow.items():
                full = shadow.full_tensor() if hasattr(shadow, "full_tensor") else shadow
                state[name] = full.detach().cpu().to(state[name].dtype)
        return state if self.env.is_main else None


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
