"""Which kernels each attention layer of a model actually runs, found by running it.

A backend chosen by ``genkit_select_attention`` (genkit's SDPA, the sparse transformer's xformers) calls other
code to do the work, and that code picks a kernel per call: SDPA chooses among flash, memory-efficient, cuDNN
and the math fallback from the device, dtype, mask and sizes; xformers among its own flash/cutlass builds and
torch's. :func:`attention_kernels` runs a backend once, forward and backward, on one example of the layer's own
layout (its real sequence length, one head of ``head_dim``), under ``torch.profiler``, and names the attention
operators it ran (and on CUDA the GPU kernels they launched). :func:`layer_kernels` does so for every attention
layer of a model (a module with ``layout`` and ``backend(device, dtype)``, as the sparse transformer's attention
branches have), once per distinct layout.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genkit.attention.layout import AttentionLayout

#: Substrings that mark an attention operator in the profiler's event names (aten's and xformers' operators).
ATTENTION_MARKERS = ("attention", "attn", "fmha", "flash", "cutlass", "xformers")
#: Dispatching wrappers, not kernels.
NOT_KERNELS = ("aten::scaled_dot_product_attention",)


def attention_kernels(
    backend: Any, layout: AttentionLayout, device: torch.device | str, dtype: torch.dtype, head_dim: int = 64
) -> list[str]:
    """The attention operators ``backend(q, k, v)`` runs for ``layout`` on ``device``/``dtype``, forward and
    backward, sorted; an empty list means it ran none that looks like attention (see :data:`ATTENTION_MARKERS`)."""
    from torch.profiler import ProfilerActivity, profile

    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(1, 1, layout.length, head_dim, generator=gen).to(device, dtype).requires_grad_() for _ in range(3)
    )
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        backend(q, k, v).float().sum().backward()
    cuda = torch.autograd.DeviceType.CUDA
    names = {
        event.name
        for event in prof.events()
        # operators (aten::, xformers::, ...) and, on CUDA, the GPU kernels they launched
        if ("::" in event.name and not event.name.startswith("autograd::")) or event.device_type == cuda
    }
    return sorted(
        name
        for name in names
        if any(marker in name.lower() for marker in ATTENTION_MARKERS) and name not in NOT_KERNELS
    )


def layer_kernels(model: nn.Module, device: torch.device | str, dtype: torch.dtype) -> list[dict[str, Any]]:
    """One row per attention layer, in order: ``{"layer", "type", "backend", "kernels"}`` (``backend``: the
    backend's ``name``; ``kernels``: :func:`attention_kernels`, measured once per distinct layout and backend)."""
    rows: list[dict[str, Any]] = []
    measured: dict[tuple[Any, str], list[str]] = {}
    layers = [m for m in model.modules() if isinstance(getattr(m, "layout", None), AttentionLayout)]
    for index, layer in enumerate(layers):
        layout: AttentionLayout = getattr(layer, "layout")  # noqa: B009 - a module attribute, typed here
        choose = getattr(layer, "backend", None)
        if not callable(choose):
            continue
        backend = choose(torch.device(device), dtype)
        name = str(getattr(backend, "name", type(backend).__name__))
        key = (layout, name)
        if key not in measured:
            measured[key] = attention_kernels(backend, layout, device, dtype)
        rows.append({"layer": index, "type": layout.layer_type, "backend": name, "kernels": measured[key]})
    return rows
