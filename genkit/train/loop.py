"""The one training loop every stage runs: a stage supplies a model, how to make a batch and its loss.

Per optimizer step: this rank's ``accumulate`` micro-batches come from the stage's DataLoader
(:mod:`genkit.data.loader`: the global batch of ``settings.batch`` examples split over ranks, or streamed shards);
each micro-batch's loss runs under autocast and is backpropagated through the
gradient scaler; gradients are unscaled, clipped (``grad_clip``), and the step is applied unless a gradient is
non-finite (then counted in ``skipped_steps``). With ``compile``, the model's blocks are compiled
(:mod:`genkit.compile`) and validation runs eagerly; a step whose compilation fails warns once and runs again
eagerly, from the same micro-batches and random state. Then EMA, metrics (``metrics.jsonl``, averaged over ranks and
micro-batches), validation every ``validate_every`` steps, a checkpoint every ``checkpoint_every`` steps, and on
SIGINT/SIGTERM a checkpoint then :class:`InterruptedRun`. A diverging run stops (:mod:`genkit.train.divergence`);
a plugin hook that raises stops it with :class:`genkit.PluginError` after a checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import torch

from genkit.compile import compile_model, is_compile_failure, uncompile, warn_fallback
from genkit.data.loader import LoaderSettings, MapBatches, PartBatches, PartPosition, TrainStream, auto_workers
from genkit.data.order import local_micro_batches
from genkit.distributed.env import DistEnv, all_reduce_mean, detect
from genkit.distributed.wrap import is_sharded, wrap_model
from genkit.errors import GenkitError, PluginError
from genkit.precision import get_precision, make_scaler
from genkit.train import checkpoint as ckpt
from genkit.train.divergence import DivergedRun, DivergenceGuard
from genkit.train.ema import ParameterEMA
from genkit.train.interrupt import StopRequest
from genkit.train.job import InterruptedRun, StageJob, seed_everything, to_device
from genkit.train.metrics import MetricsLog, Progress
from genkit.train.optim import make_optimizer
from genkit.train.schedules import LRSchedule
from genkit.train.trainer_state import TrainerState, note


class Trainer(TrainerState):
    """Runs a :class:`StageJob` to ``settings.steps`` (see the module docstring)."""

    def __init__(self, job: StageJob, env: DistEnv | None = None, plugins: Any = None, progress: bool = True) -> None:
        self.job, self.settings = job, job.settings
        self.env = env or detect()
        self.plugins = plugins
        self.progress_enabled = progress and self.env.is_main
        self.recipe_key = f"stages.{job.name}"
        s = self.settings
        self.precision = get_precision(s.precision)
        self.model = job.model
        self.compiled = compile_model(self.model) if s.compile else []
        self.scaler = make_scaler(
            s.precision,
            s.loss_scaling,
            self.model,
            self.env.device,
            world_size=self.env.world_size,
            sharded=self.env.distributed and s.distributed == "fsdp",
            recipe_key=self.recipe_key,
        )
        self.wrapped = wrap_model(
            self.model,
            self.env,
            mode=s.distributed,
            param_dtype=self.precision.dtype,
            powersgd_rank=s.powersgd_rank,
            recipe_key=self.recipe_key,
        )
        self.sharded = self.env.distributed and is_sharded(self.wrapped)
        self.optimizer = make_optimizer(self.model, s, sharded=self.env.distributed, recipe_key=self.recipe_key)
        self.schedule = LRSchedule(s)
        self.ema = ParameterEMA(self.model, s.ema) if s.ema else None
        self.data = self._train_stream()
        self.step = 0
        resumable = {
            "steps",
            "log_every",
            "validate_every",
            "validation_batches",
            "checkpoint_every",
            "tensorboard",
            "workers",
            "prefetch",
            "divergence_factor",
            "max_skipped",
            "compile",
        }
        self.fingerprint = ckpt.fingerprint(
            self.model, {k: v for k, v in s.model_dump(mode="json").items() if k not in resumable}, job.identity
        )
        self.last_validation: dict[str, float] = {}

    def _train_stream(self) -> TrainStream:
        s, env, job = self.settings, self.env, self.job
        streamed = job.stream is not None
        workers = auto_workers(s.workers, streamed or not job.in_memory)
        micro = s.batch // (env.world_size * s.accumulate)
        local_micro_batches(list(range(s.batch)), env.rank, env.world_size, s.accumulate, self.recipe_key)  # divisible?

        def build(start: int, positions: dict[int, PartPosition]) -> Any:
            if streamed:
                assert job.assemble is not None, "a streamed StageJob needs assemble"
                return PartBatches(
                    job.stream,
                    job.assemble,
                    micro,
                    job.seed,
                    env.rank,
                    env.world_size,
                    s.accumulate,
                    shuffle_buffer=s.shuffle_buffer,
                    start=start,
                    positions=positions,
                    recipe_key=self.recipe_key,
                )
            return MapBatches(
                job.batch,
                job.train_size,
                s.batch,
                job.seed,
                env.rank,
                env.world_size,
                s.accumulate,
                start=start,
                recipe_key=self.recipe_key,
            )

        return TrainStream(build, LoaderSettings(workers, s.prefetch), env.device, job.seed, streamed)

    # -- calls through the wrapper ---------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.wrapped(fn, *args)

    # -- validation ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation metrics (eagerly: compiled blocks would compile again for evaluation mode)."""
        with torch.compiler.set_stance("force_eager"):
            return self._validate()

    def _validate(self) -> dict[str, float]:
        s, env = self.settings, self.env
        was_training = self.model.training
        self.model.eval()
        totals: dict[str, float] = {}
        count = 0
        for b in range(s.validation_batches):
            indices = [(b * s.batch + i) % self.job.validation_size for i in range(s.batch)]
            mine = local_micro_batches(indices, env.rank, env.world_size, 1, self.recipe_key)[0]
            batch = to_device(self.job.batch("validation", mine, self.step), env.device)
            with self.precision.autocast(env.device):
                loss, metrics = self.call(self.job.loss, batch, max(self.step, 1))
            for key, value in {"loss": float(loss), **metrics}.items():
                totals[key] = totals.get(key, 0.0) + float(value)
            count += 1
        result = self._mean_over_ranks({k: v / count for k, v in totals.items()})
        if self.job.validate_extra is not None:
            with self.precision.autocast(env.device):
                extra = self.job.validate_extra(self.call, self.step)
            result.update(self._mean_over_ranks({k: float(v) for k, v in extra.items()}))
        self.model.train(was_training)
        self.schedule.observe(result["loss"])
        self.last_validation = result
        return result

    def _mean_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        if not self.env.distributed or not values:
            return values
        keys = sorted(values)
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.env.device)
        all_reduce_mean(tensor, self.env)
        return dict(zip(keys, tensor.tolist(), strict=True))

    # -- the loop -----------------------------------------------------------------------------------------------
    def _hook(self, name: str, **kwargs: Any) -> None:
        """Call every plugin's ``name`` hook; one that raises becomes a one-line :class:`PluginError` naming it."""
        if self.plugins is None:
            return
        caller = getattr(self.plugins.hook, name)
        for impl in reversed(caller.get_hookimpls()):  # pluggy's order: last registered first
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except GenkitError:
                raise
            except Exception as exc:  # noqa: BLE001 - a plugin's bug must not look like genkit's
                detail = str(exc).splitlines()[0] if str(exc) else ""
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in {name} at {self.recipe_key} step {self.step}: "
                    f"{type(exc).__name__}: {detail}"
                ) from exc

    def _no_sync(self, last: bool) -> contextlib.AbstractContextManager[Any]:
        if last or not self.env.distributed:
            return contextlib.nullcontext()
        from torch.distributed.fsdp import FSDPModule
        from torch.nn.parallel import DistributedDataParallel

        if self.sharded:
            assert isinstance(self.wrapped, FSDPModule)  # what self.sharded says
            self.wrapped.set_requires_gradient_sync(False)
            return _ResetSync(self.wrapped)
        return self.wrapped.no_sync() if isinstance(self.wrapped, DistributedDataParallel) else contextlib.nullcontext()

    def train_step(self) -> dict[str, float]:
        """One optimizer step (all micro-batches); returns this rank's metrics (not yet averaged over ranks)."""
        s = self.settings
        self.step += 1
        lr = self.schedule.apply(self.optimizer, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        if not self.compiled:
            sums = self._micro_batches(None)
        else:  # keep what a failed compilation needs to run the step again eagerly, identically
            rng, drawn = ckpt.rng_state(), list[Any]()
            try:
                sums = self._micro_batches(drawn)
            except Exception as exc:
                if not is_compile_failure(exc):
                    raise
                warn_fallback(self.recipe_key, exc)
                uncompile(self.compiled)
                self.compiled = []
                ckpt.set_rng_state(rng)
                self.optimizer.zero_grad(set_to_none=True)
                sums = self._micro_batches(drawn, replay=True)
        self.scaler.unscale(self.optimizer)
        total_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip or math.inf)
        norm = float(total_norm.full_tensor() if hasattr(total_norm, "full_tensor") else total_norm)
        applied = self.scaler.step(self.optimizer, math.isfinite(norm))
        if applied and self.ema is not None:
            self.ema.update()
        return {**sums, "lr": lr, "grad_norm": norm}

    def _micro_batches(self, drawn: list[Any] | None, replay: bool = False) -> dict[str, float]:
        """Forward and backward of this step's ``accumulate`` micro-batches; the mean of their metrics. Each batch
        drawn is appended to ``drawn`` (``None``: kept by nobody once used); with ``replay`` the batches ``drawn``
        holds are used again first."""
        s, env = self.settings, self.env
        sums: dict[str, float] = {}
        for k in range(s.accumulate):
            if replay and drawn is not None and k < len(drawn):
                batch = drawn[k]
            else:
                batch = to_device(self.data.next(), env.device)
                if self.data.streamed and self.job.prepare is not None:
                    batch = self.job.prepare(batch)
                if drawn is not None:
                    drawn.append(batch)
            with self._no_sync(k == s.accumulate - 1):
                with self.precision.autocast(env.device):
                    loss, metrics = self.call(self.job.loss, batch, self.step)
                self.scaler.backward(loss / s.accumulate)
            for key, value in {"loss": float(loss.detach()), **metrics}.items():
                sums[key] = sums.get(key, 0.0) + float(value) / s.accumulate
        return sums

    def fit(self, resume: bool = True) -> dict[str, float]:
        """Train to ``settings.steps`` (resuming from the newest checkpoint when ``resume``); returns the final
        validation metrics. Raises :class:`InterruptedRun` after checkpointing on SIGINT/SIGTERM."""
        s, env, job = self.settings, self.env, self.job
        seed_everything(job.seed)
        if not resume and env.is_main:
            aside = ckpt.set_aside(job.stage_dir)
            if aside is not None:
                note(f"{job.name}: --no-resume: the existing checkpoints were moved to {aside}")
        self._resume(resume)
        log = (
            MetricsLog(
                job.stage_dir / "metrics.jsonl",
                tensorboard=s.tensorboard,
                recipe_key=self.recipe_key,
                resume_step=self.step,
            )
            if env.is_main
            else None
        )
        progress = Progress(job.name, s.steps, self.step, self.progress_enabled)
        self._hook(
            "genkit_train_start",
            stage=job.name,
            run_dir=job.stage_dir,
            model=self.model,
            settings=s,
            start_step=self.step,
        )
        self.model.train()
        guard = DivergenceGuard(s.divergence_factor, s.max_skipped)
        smoothed, last_time = None, time.perf_counter()
        try:
            with StopRequest() as stop:
                while self.step < s.steps:
                    waited = self.data.wait_seconds
                    local = self.train_step()
                    waited = self.data.wait_seconds - waited
                    keys = sorted(local)
                    stats = torch.tensor(
                        [local[k] for k in keys] + [1.0 if stop.requested else 0.0],
                        dtype=torch.float64,
                        device=env.device,
                    )
                    all_reduce_mean(stats, env)
                    values = dict(zip(keys, stats[:-1].tolist(), strict=True))
                    stop_now = bool(stats[-1] > 0)
                    now = time.perf_counter()
                    last_step_start = last_time
                    rate = s.batch / max(now - last_time, 1e-9)
                    smoothed = rate if smoothed is None else 0.9 * smoothed + 0.1 * rate
                    last_time = now
                    values.update(self.scaler.metrics())
                    values["samples_per_s"] = smoothed
                    values["data_wait"] = min(1.0, waited / max(now - last_step_start, 1e-9))
                    diverged = guard.check(values["loss"], values.get("skipped_steps", 0.0))  # same on every rank
                    if diverged is not None:
                        last = ckpt.latest_checkpoint(job.stage_dir)
                        kept = f"the last checkpoint ({last}) is kept" if last else "no checkpoint was written"
                        raise DivergedRun(
                            f"{self.recipe_key}: training diverged at step {self.step}: {diverged}; nothing "
                            f"was exported and {kept}. Lower {self.recipe_key}.lr (now {s.lr:g}) or set "
                            f"grad_clip, then run again with --no-resume"
                        )
                    if env.is_main:
                        assert log is not None  # rank 0 keeps the log
                        if self.step % s.log_every == 0 or self.step == s.steps:
                            log.write({"step": self.step, "split": "train", **values})
                        try:
                            self._hook("genkit_step_end", stage=job.name, step=self.step, metrics=values)
                        except PluginError as exc:  # the step itself is complete: keep it before stopping
                            path = self.save()
                            raise PluginError(f"{exc} (checkpoint saved to {path})") from exc
                        progress.update(self.step, values["loss"], smoothed)
                    if self.step % s.validate_every == 0 or self.step == s.steps:
                        result = self.validate()
                        if env.is_main:
                            assert log is not None  # rank 0 keeps the log
                            log.write({"step": self.step, "split": "validation", **result})
                            progress.note(
                                f"{job.name} step {self.step}/{s.steps}: validation "
                                + ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.items()))
                            )
                    if self.step % s.checkpoint_every == 0 or self.step == s.steps or stop_now:
                        path = self.save()
                        if stop_now:
                            raise InterruptedRun(
                                f"{job.name}: interrupted at step {self.step}/{s.steps}; checkpoint saved to {path} "
                                "(run again with --resume to continue)"
                            )
        finally:
            self.data.close()
            progress.close()
            if log is not None:
                log.close()
        if not self.last_validation:
            self.last_validation = self.validate()
        return dict(self.last_validation)


class _ResetSync(contextlib.AbstractContextManager[Any]):
    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def __exit__(self, *exc: object) -> None:
        self.wrapped.set_requires_gradient_sync(True)
