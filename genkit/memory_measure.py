"""The measured peak memory of a training step, to check the plan of :mod:`genkit.sizing` against reality.

On CUDA: ``torch.cuda.max_memory_allocated`` (the caching allocator's own count of live tensor bytes). On the
CPU there is no such counter (``tracemalloc`` does not see torch's allocations, and the resident set size
includes the allocator's caching and every library), so :func:`cpu_peak_bytes` runs the step under
``torch.profiler`` with ``profile_memory=True``: each tensor allocation and free is an event with its size, in
order, and the peak is the largest running sum. Tensors that exist before the step (weights, optimizer states,
the batch) are counted by :func:`tensor_bytes` and added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


def tensor_bytes(tensors: Iterable[Any]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (non-tensors are skipped; a shared storage counts once)."""
    seen: dict[tuple[str, int], int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            storage = t.untyped_storage()
            seen[(str(t.device), storage.data_ptr())] = storage.nbytes()
    return sum(seen.values())


def cpu_peak_bytes(step: Callable[[], Any]) -> int:
    """The largest number of tensor bytes allocated at once while ``step()`` runs on the CPU, above what was
    allocated when it started (allocations and frees recorded by ``torch.profiler``)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted(
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()  # type: ignore[union-attr, unused-ignore]  # set after a run
        if event.name() == "[memory]" and event.device_type() == torch.autograd.DeviceType.CPU
    )
    running = peak = 0
    for _, size in events:
        running += size
        peak = max(peak, running)
    return peak


def training_state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Any = ()) -> int:
    """Bytes of the model's parameters and buffers, the optimizer's state tensors and the batch's tensors."""
    state = [v for per_param in optimizer.state.values() for v in per_param.values()]
    batch_tensors = batch if isinstance(batch, (list, tuple)) else [batch]
    return tensor_bytes([*model.parameters(), *model.buffers(), *state, *batch_tensors])


def measured_step_peak(step: Callable[[], Any], model: torch.nn.Module, optimizer: Any, batch: Any = ()) -> int:
    """Peak bytes of one training step: what was allocated before it plus its own peak (CPU: the profiler; CUDA:
    ``max_memory_allocated`` after a reset). Run it after a first step, so that the optimizer states exist."""
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device))
    before = training_state_bytes(model, optimizer, batch)
    return before + cpu_peak_bytes(step)
