"""Parameter count and per-GPU memory plan of a recipe's prior, computed on the meta device (no memory used).

``genkit validate RECIPE --params`` prints :func:`memory_plan_report` (written by :mod:`genkit.sizing_report`):
the sharded states per GPU, the activations of a micro-batch with and without activation checkpointing
(:mod:`genkit.activations`), and which GPU counts and micro-batches fit a GPU's memory.

Absurd sizes get a one-line :class:`InputError` naming the recipe section, never a traceback nor minutes of work:
a component is sized up to ``MAX_PARAMETERS`` parameters in ``MAX_PARAMETER_TENSORS`` tensors (both far beyond
the paper's 12B prior: 1.2e10 parameters in under 1,000 tensors), counted while it is built so that the build
stops at the first tensor past a bound; a tensor whose size overflows (``width=1e20``) is refused the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn.modules.module import register_module_parameter_registration_hook

from genkit.activations import compute_bytes
from genkit.errors import InputError
from genkit.plugins.context import BuildContext
from genkit.plugins.manager import Plugins, get_plugins
from genkit.recipe.checks import image_size

GIB = 1024**3
GPU_COUNTS = (1, 8, 64)
ADAMW_BYTES = 8.0  # two fp32 moments
ADAMW8BIT_BYTES = 2.0 + 2 * 4.0 / 256  # two uint8 moments + one fp32 absmax per 256-value block each (bitsandbytes)
MAX_PARAMETERS = 10**13  # 10 trillion: ~800x the paper's 12B prior
MAX_PARAMETER_TENSORS = 20_000  # ~1,600 blocks of the paper's prior (64 blocks: ~780 tensors); seconds to reach


class _TooLarge(Exception):
    pass


@contextlib.contextmanager
def _bounded_build() -> Iterator[None]:
    """Count every parameter registered while building; stop the build at the first one past a bound."""
    counted = {"parameters": 0, "tensors": 0}

    def hook(module: Any, name: str, param: Any) -> None:
        if param is None:
            return
        counted["parameters"] += param.numel()
        counted["tensors"] += 1
        if counted["parameters"] > MAX_PARAMETERS:
            raise _TooLarge(
                f"more than {MAX_PARAMETERS:,} parameters (reached at {type(module).__name__}.{name} "
                f"{list(param.shape)})"
            )
        if counted["tensors"] > MAX_PARAMETER_TENSORS:
            raise _TooLarge(f"more than {MAX_PARAMETER_TENSORS:,} parameter tensors (a very deep model)")

    handle = register_module_parameter_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _build_meta(plugins: Plugins, role: str, params: Any, context: BuildContext, source: str = "recipe") -> Any:
    spec = plugins.registry.get(role, params.kind)
    section = plugins.registry.role(role).section
    try:
        with _bounded_build(), torch.device("meta"):
            return spec.build(params, context)
    except _TooLarge as exc:
        raise InputError(f"{source}: {section}: {params.kind} has {exc}; too large to size") from None
    except (RuntimeError, TypeError, ValueError, OverflowError, MemoryError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if not isinstance(exc, (OverflowError, MemoryError)) and "overflow" not in detail.lower():
            raise  # not a size problem: a bug, shown as one
        # a tensor size past int64, or one whose byte count overflows, even on the meta device
        raise InputError(
            f"{source}: {section}: {params.kind} is too large to build on the meta device to size it ({detail[:200]})"
        ) from None


def meta_context(loaded: Any, plugins: Plugins | None = None) -> BuildContext:
    """The prior's build context for a recipe: the data section's image size, then the facts each role that
    provides some (the tokenizer, the autoencoder) gives when built on the meta device."""
    plugins = plugins or get_plugins()
    recipe = loaded.recipe
    size, _ = image_size(recipe, plugins.registry)
    context = BuildContext(image_size=size)
    for role in plugins.registry.roles.values():
        params = getattr(recipe, role.section, None)
        if role.provides and not role.required and params is not None:  # the dataset is read, never built here
            built = _build_meta(plugins, role.name, params, context, str(loaded.source))
            context = context.with_(**role.context_from(built))
    return context


def build_meta_prior(loaded: Any, plugins: Plugins | None = None, context: BuildContext | None = None) -> Any:
    """The recipe's prior with meta tensors (shapes only)."""
    plugins = plugins or get_plugins()
    params = getattr(loaded.recipe, plugins.registry.role("prior").section, None)
    if params is None:
        raise InputError(f"{loaded.source}: prior: the recipe has no prior section; --params sizes the prior")
    return _build_meta(plugins, "prior", params, context or meta_context(loaded, plugins), str(loaded.source))


def optimizer_bytes(optim: str) -> float:
    """Optimizer state bytes per parameter: ``adamw`` two fp32 moments, ``adamw8bit`` two 8-bit moments + scales."""
    return ADAMW8BIT_BYTES if optim == "adamw8bit" else ADAMW_BYTES


def memory_plan(parameters: int, largest_unit: int, gpus: int, precision: str = "bf16") -> dict[str, float]:
    """Bytes per GPU under FSDP2 for ``parameters`` sharded over ``gpus`` (fp32 master weights and gradients).

    ``precision`` sets the bytes of the gathered blocks (the ``MixedPrecisionPolicy`` parameter dtype) and, on one
    GPU (no FSDP2), of the weight copies autocast keeps during the forward pass."""
    shard = parameters / gpus
    c = compute_bytes(precision)
    plan = {
        "weights (fp32, sharded)": 4.0 * shard,
        "gradients (fp32, sharded)": 4.0 * shard,
        "AdamW states (2 x fp32)": ADAMW_BYTES * shard,
        "8-bit AdamW states (2 x int8 + scales)": ADAMW8BIT_BYTES * shard,
        "gathered blocks (current + prefetched)": (c * 2 * largest_unit) if gpus > 1 else 0.0,
        "one block's unsharded gradient (fp32)": (4.0 * largest_unit) if gpus > 1 else 0.0,
        "autocast weight copies (one GPU)": (c * parameters) if gpus == 1 and c < 4 else 0.0,
    }
    base = (
        plan["weights (fp32, sharded)"]
        + plan["gradients (fp32, sharded)"]
        + plan["gathered blocks (current + prefetched)"]
        + plan["one block's unsharded gradient (fp32)"]
        + plan["autocast weight copies (one GPU)"]
    )
    plan["total with AdamW"] = base + plan["AdamW states (2 x fp32)"]
    plan["total with 8-bit AdamW"] = base + plan["8-bit AdamW states (2 x int8 + scales)"]
    return plan


def planned_peak(
    parameters: int,
    largest_unit: int,
    gpus: int,
    activations: dict[str, float],
    *,
    precision: str = "bf16",
    optim: str = "adamw",
    accumulate: int = 1,
) -> float:
    """Peak bytes per GPU of a training step: weights, optimizer states and gathered blocks, then the larger of
    (one micro-batch's kept activations + the backward pass's transient, :mod:`genkit.activations`) and the
    gradients, which grow while the activations are freed. With ``accumulate`` > 1 the gradients of the earlier
    micro-batches are live during the next one's forward, so both count."""
    plan = memory_plan(parameters, largest_unit, gpus, precision)
    fixed = (
        plan["weights (fp32, sharded)"]
        + optimizer_bytes(optim) * parameters / gpus
        + plan["gathered blocks (current + prefetched)"]
        + plan["one block's unsharded gradient (fp32)"]
        + plan["autocast weight copies (one GPU)"]
    )
    micro = activations["kept"] + activations["transient"]
    gradients = plan["gradients (fp32, sharded)"]
    return fixed + (micro + gradients if accumulate > 1 else max(micro, gradients))


def prior_sizes_on_meta(prior: Any) -> tuple[int, int, int]:
    """``(parameters, largest shard unit's parameters, shard units)`` of a (meta) prior."""
    parameters = sum(p.numel() for p in prior.parameters())
    units = prior.shard_units() if hasattr(prior, "shard_units") else []
    largest = max((sum(p.numel() for p in unit.parameters()) for unit in units), default=parameters)
    return parameters, largest, len(units)


def memory_plan_report(
    loaded: Any, plugins: Plugins | None = None, context: BuildContext | None = None, gpu_memory_gib: float = 80.0
) -> str:
    """``parameters: N`` on the first line, then the per-GPU memory plan (see :mod:`genkit.sizing_report`)."""
    from genkit.sizing_report import plan_lines

    plugins = plugins or get_plugins()
    prior = build_meta_prior(loaded, plugins, context)
    kind = getattr(loaded.recipe, plugins.registry.role("prior").section).kind
    settings = getattr(getattr(loaded.recipe, "stages", None), "prior", None)
    return "\n".join(plan_lines(prior, kind, settings, gpu_memory_gib))
