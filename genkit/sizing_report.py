"""The text of ``genkit validate RECIPE --params``: what a training step of the recipe's prior needs per GPU.

Sections: the sharded states per GPU (1, 8, 64 GPUs); the activations of one example with and without
checkpointing; the largest micro-batch per GPU that fits ``gpu_memory_gib`` (planned peak at most
:data:`USABLE` of it: the CUDA context, the allocator's fragmentation and NCCL buffers take the rest) for each
optimizer with and without checkpointing; and where the recipe itself fits: the smallest GPU count, and the
micro-batch and accumulation there, for its batch, precision, optimizer and checkpointing.
"""

from __future__ import annotations

from typing import Any

from genkit.activations import TransformerShape, activation_bytes, transformer_shape
from genkit.sizing import GPU_COUNTS, memory_plan, planned_peak, prior_sizes_on_meta

GIB = 1024**3
USABLE = 0.9  # share of a GPU's memory a plan may fill
FIT_GPU_COUNTS = (1, 4, 8, 64, 512)
MAX_GPUS = 1 << 14
MAX_MICRO_BATCH = 1 << 20


def _table(rows: dict[str, list[str]], columns: list[str], label_width: int) -> list[str]:
    width = max([10] + [2 + len(cell) for row in rows.values() for cell in row] + [2 + len(c) for c in columns])
    lines = [f"  {'':<{label_width}}" + "".join(f"{c:>{width}}" for c in columns)]
    lines += [f"  {key:<{label_width}}" + "".join(f"{cell:>{width}}" for cell in row) for key, row in rows.items()]
    return lines


def largest_micro_batch(
    parameters: int,
    largest: int,
    gpus: int,
    shape: TransformerShape,
    limit: float,
    *,
    precision: str,
    optim: str,
    checkpointing: bool | int | None,
    accumulate: int = 1,
) -> int:
    """The largest micro-batch per GPU whose planned peak is at most ``limit`` bytes (0: not even one)."""

    def peak(micro: int) -> float:
        acts = activation_bytes(shape, micro, precision, checkpointing)
        return planned_peak(parameters, largest, gpus, acts, precision=precision, optim=optim, accumulate=accumulate)

    if peak(1) > limit:
        return 0
    low, high = 1, 2
    while high <= MAX_MICRO_BATCH and peak(high) <= limit:
        low, high = high, high * 2
    while high - low > 1:  # peak(low) fits, peak(high) does not (or high is past the bound)
        mid = (low + high) // 2
        low, high = (mid, high) if peak(mid) <= limit else (low, mid)
    return low


def recipe_fit(
    parameters: int, largest: int, shape: TransformerShape, limit: float, settings: Any
) -> tuple[int, int, int, float] | None:
    """``(gpus, micro_batch, accumulate, peak bytes)``: the fewest GPUs (a power of two dividing the batch) at
    which the recipe's batch fits with its precision, optimizer and the prior's checkpointing, taking the
    recipe's accumulation or more (a micro-batch that divides the per-GPU batch); ``None`` when nothing fits."""
    batch, precision, optim = int(settings.batch), str(settings.precision), str(settings.optim)

    def peak(gpus: int, micro: int, accumulate: int) -> float:
        acts = activation_bytes(shape, micro, precision)
        return planned_peak(parameters, largest, gpus, acts, precision=precision, optim=optim, accumulate=accumulate)

    gpus = 1
    while gpus <= min(batch, MAX_GPUS):
        per_gpu = batch // gpus
        if batch % gpus == 0 and per_gpu % settings.accumulate == 0:
            micro = per_gpu // settings.accumulate
            if peak(gpus, micro, settings.accumulate) <= limit:
                return gpus, micro, int(settings.accumulate), peak(gpus, micro, settings.accumulate)
            # more accumulation: the largest micro-batch dividing the per-GPU batch that fits (gradients live)
            most = largest_micro_batch(
                parameters,
                largest,
                gpus,
                shape,
                limit,
                precision=precision,
                optim=optim,
                checkpointing=None,
                accumulate=2,
            )
            fitting = [m for m in _divisors(per_gpu) if m <= most and per_gpu // m >= settings.accumulate]
            if fitting:
                micro = max(fitting)
                return gpus, micro, per_gpu // micro, peak(gpus, micro, per_gpu // micro)
        gpus *= 2
    return None


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def plan_lines(prior: Any, kind: str, settings: Any, gpu_memory_gib: float = 80.0) -> list[str]:
    """The report's lines (see the module docstring); ``settings`` is the recipe's ``stages.prior`` (or None)."""
    from genkit.stages.settings import PriorStage

    settings = settings if settings is not None else PriorStage.model_validate({})
    precision, optim = str(settings.precision), str(settings.optim)
    parameters, largest, units = prior_sizes_on_meta(prior)
    shape = transformer_shape(prior)
    own = shape.checkpointed if shape is not None else ()
    lines = [
        f"parameters: {parameters}",
        f"prior: {kind}, {parameters / 1e9:.2f}B parameters in {units} shard units "
        f"(largest {largest / 1e6:.1f}M), built on the meta device",
        f"training (stages.prior): batch {settings.batch}, accumulate {settings.accumulate}, precision {precision}, "
        f"optim {optim}; checkpointed blocks: {sum(own)} of {len(own)}",
        f"per-GPU memory under FSDP2, GiB (parameters, gradients and optimizer states sharded; {precision}):",
    ]
    plans = [memory_plan(parameters, largest, gpus, precision) for gpus in GPU_COUNTS]
    cells = {key: [f"{plan[key] / GIB:.2f}" for plan in plans] for key in plans[0]}
    lines += _table(cells, [f"{g} GPU" + ("s" if g > 1 else "") for g in GPU_COUNTS], 46)
    if shape is None:
        lines.append(f"activations: not estimated ({kind} is not built like genkit's transformer priors)")
        return lines
    lines.append(
        f"activations of one example (sequence {shape.sequence}, {precision}; any GPU count), GiB "
        "(kept for the backward pass + the backward pass's transient):"
    )
    for label, setting in (("no checkpointing", False), ("checkpointing every block", True)):
        acts = activation_bytes(shape, 1, precision, setting)
        lines.append(f"  {label:<46}{acts['kept'] / GIB:>10.3f} + {acts['transient'] / GIB:.3f}")
    limit = USABLE * gpu_memory_gib * GIB
    lines.append(
        f"largest micro-batch per GPU that fits {gpu_memory_gib:g} GiB (planned peak <= {USABLE:.0%}), {precision}:"
    )
    fit_rows: dict[str, list[str]] = {}
    for optimizer, name in (("adamw", "AdamW"), ("adamw8bit", "8-bit AdamW")):
        for setting, words in ((False, "no checkpointing"), (True, "checkpointing")):
            fit_rows[f"{name}, {words}"] = [
                str(
                    largest_micro_batch(
                        parameters,
                        largest,
                        gpus,
                        shape,
                        limit,
                        precision=precision,
                        optim=optimizer,
                        checkpointing=setting,
                    )
                )
                for gpus in FIT_GPU_COUNTS
            ]
    lines += _table(fit_rows, [f"{g} GPU" + ("s" if g > 1 else "") for g in FIT_GPU_COUNTS], 46)
    fit = recipe_fit(parameters, largest, shape, limit, settings)
    every = "none" if not any(own) else "every block" if all(own) else f"{sum(own)} of {len(own)} blocks"
    what = f"batch {settings.batch}, {precision}, {optim}, checkpointing {every}"
    if fit is None:
        lines.append(f"the recipe ({what}) fits {gpu_memory_gib:g} GiB per GPU on no GPU count up to {MAX_GPUS}")
    else:
        gpus, micro, accumulate, peak = fit
        lines.append(
            f"the recipe ({what}) fits {gpu_memory_gib:g} GiB per GPU from {gpus} GPUs: micro-batch {micro}, "
            f"accumulate {accumulate}, planned peak {peak / GIB:.1f} GiB per GPU"
        )
    return lines
