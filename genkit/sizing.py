"""Parameter count and per-GPU memory plan of a recipe's prior, computed on the meta device (no memory used).

``genkit validate RECIPE --params`` prints :func:`memory_plan_report`.
"""

from __future__ import annotations

from typing import Any

import torch

from genkit.context import BuildContext
from genkit.errors import InputError
from genkit.plugins import Plugins, get_plugins
from genkit.registry import ROLES

GIB = 1024**3
GPU_COUNTS = (1, 8, 64)
ADAMW_BYTES = 8.0  # two fp32 moments
ADAMW8BIT_BYTES = 2.0 + 2 * 4.0 / 2048  # two int8 moments + one fp32 absmax per 2048-value block each


def _build_meta(plugins: Plugins, role: str, params: Any, context: BuildContext) -> Any:
    spec = plugins.registry.get(role, params.kind)
    with torch.device("meta"):
        return spec.build(params, context)


def meta_context(loaded: Any, plugins: Plugins | None = None) -> BuildContext:
    """The prior's build context for a recipe, from the data section's image size and the tokenizer and
    autoencoder built on the meta device (their ``vocab_size``/``max_length`` and ``vocab_size``/``grid``)."""
    plugins = plugins or get_plugins()
    recipe = loaded.recipe
    data = getattr(recipe, ROLES["dataset"], None)
    context = BuildContext(image_size=getattr(data, "size", None) or getattr(data, "image_size", None))
    tokenizer = getattr(recipe, ROLES["tokenizer"], None)
    if tokenizer is not None:
        built = _build_meta(plugins, "tokenizer", tokenizer, context)
        context = context.with_(text_vocab_size=int(built.vocab_size), text_length=int(built.max_length))
    autoencoder = getattr(recipe, ROLES["autoencoder"], None)
    if autoencoder is not None:
        built = _build_meta(plugins, "autoencoder", autoencoder, context)
        context = context.with_(image_vocab_size=int(built.vocab_size), image_grid=tuple(built.grid))
    return context


def build_meta_prior(loaded: Any, plugins: Plugins | None = None, context: BuildContext | None = None) -> Any:
    """The recipe's prior with meta tensors (shapes only)."""
    plugins = plugins or get_plugins()
    params = getattr(loaded.recipe, ROLES["prior"], None)
    if params is None:
        raise InputError(f"{loaded.source}: prior: the recipe has no prior section; --params sizes the prior")
    return _build_meta(plugins, "prior", params, context or meta_context(loaded, plugins))


def memory_plan(parameters: int, largest_unit: int, gpus: int) -> dict[str, float]:
    """Bytes per GPU under FSDP2 for ``parameters`` sharded over ``gpus`` (fp32 master weights and gradients)."""
    shard = parameters / gpus
    plan = {
        "weights (fp32, sharded)": 4.0 * shard,
        "gradients (fp32, sharded)": 4.0 * shard,
        "AdamW states (2 x fp32)": ADAMW_BYTES * shard,
        "8-bit AdamW states (2 x int8 + scales)": ADAMW8BIT_BYTES * shard,
        "gathered blocks (bf16, current + prefetched)": (2.0 * 2 * largest_unit) if gpus > 1 else 0.0,
    }
    base = plan["weights (fp32, sharded)"] + plan["gradients (fp32, sharded)"] + plan["gathered blocks (bf16, current + prefetched)"]
    plan["total with AdamW"] = base + plan["AdamW states (2 x fp32)"]
    plan["total with 8-bit AdamW"] = base + plan["8-bit AdamW states (2 x int8 + scales)"]
    return plan


def memory_plan_report(loaded: Any, plugins: Plugins | None = None, context: BuildContext | None = None) -> str:
    """``parameters: N`` on the first line, then the per-GPU memory table for 1, 8 and 64 GPUs (FSDP2).

    The prior is built on the meta device, so no parameter memory is allocated. Activations are not included
    (they depend on the batch and on activation checkpointing).
    """
    plugins = plugins or get_plugins()
    prior = build_meta_prior(loaded, plugins, context)
    parameters = sum(p.numel() for p in prior.parameters())
    units = prior.shard_units() if hasattr(prior, "shard_units") else []
    largest = max((sum(p.numel() for p in unit.parameters()) for unit in units), default=parameters)
    kind = getattr(loaded.recipe, ROLES["prior"]).kind
    lines = [
        f"parameters: {parameters}",
        f"prior: {kind}, {parameters / 1e9:.2f}B parameters in {len(units)} shard units "
        f"(largest {largest / 1e6:.1f}M), built on the meta device",
        "per-GPU memory under FSDP2, GiB (parameters, gradients and optimizer states sharded; activations excluded):",
    ]
    plans = [memory_plan(parameters, largest, gpus) for gpus in GPU_COUNTS]
    header = f"  {'':<46}" + "".join(f"{f'{g} GPU' + ('s' if g > 1 else ''):>10}" for g in GPU_COUNTS)
    lines.append(header)
    for key in plans[0]:
        lines.append(f"  {key:<46}" + "".join(f"{plan[key] / GIB:>10.2f}" for plan in plans))
    return "\n".join(lines)
