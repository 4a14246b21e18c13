"""The memory plan against a measurement: planned vs measured peak of a CPU training step, three small priors.

    python benchmarks/bench_memory.py

One JSON line per (config, checkpointing): the measured peak (tensor bytes allocated at once during a training
step, from torch.profiler's allocation events, plus the weights, optimizer states and batch that exist before
it: genkit.memory_measure), genkit.sizing.planned_peak for the same prior, micro-batch, fp32 and AdamW, and their
ratio (goal: within 25%). The same configs are asserted in tests/core/test_activation_memory.py. Memory is
deterministic: the machine's load changes nothing here.
"""

from __future__ import annotations

import json

import torch

import genkit
from genkit.activations import activation_bytes, transformer_shape
from genkit.memory_measure import measured_step_peak
from genkit.sizing import planned_peak, prior_sizes_on_meta

# (name, prior params, text vocab, text length, image vocab, grid, batch)
CONFIGS = [
    ("activations-dominate", dict(width=128, depth=4, heads=4, conv_kernel=3), 1000, 16, 256, (8, 8), 8),
    ("parameters-dominate", dict(width=256, depth=2, heads=4, attention="full"), 4000, 32, 512, (8, 8), 2),
    ("long-stream", dict(width=64, depth=6, heads=2, conv_kernel=5), 500, 16, 256, (16, 16), 16),
]


def measure(config, checkpointing) -> dict:
    name, params, text_vocab, text_length, image_vocab, grid, batch_size = config
    context = genkit.BuildContext(
        text_vocab_size=text_vocab, text_length=text_length, image_vocab_size=image_vocab, image_grid=grid
    )
    torch.manual_seed(0)
    values = {**params, "checkpoint_activations": checkpointing}
    prior = genkit.build_component("prior", genkit.make_params("prior", "sparse_transformer", values), context)
    gen = torch.Generator().manual_seed(0)
    batch = (
        torch.randint(0, text_vocab, (batch_size, text_length), generator=gen),
        torch.randint(1, text_length + 1, (batch_size,), generator=gen),
        torch.randint(0, image_vocab, (batch_size, *grid), generator=gen),
    )
    optimizer = torch.optim.AdamW(prior.parameters(), lr=1e-4)

    def step():
        loss, _ = prior.loss(*batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    measured = measured_step_peak(step, prior, optimizer, batch)
    parameters, largest, _ = prior_sizes_on_meta(prior)
    activations = activation_bytes(transformer_shape(prior), batch_size, "fp32")
    planned = planned_peak(parameters, largest, 1, activations, precision="fp32", optim="adamw")
    return {
        "bench": "memory_plan",
        "config": name,
        "checkpoint_activations": checkpointing,
        "parameters": parameters,
        "sequence": prior.sequence_length,
        "micro_batch": batch_size,
        "measured_bytes": measured,
        "planned_bytes": planned,
        "measured_mb": round(measured / 1e6, 2),
        "planned_mb": round(planned / 1e6, 2),
        "planned_over_measured": round(planned / measured, 3),
        "activations_kept_mb": round(activations["kept"] / 1e6, 2),
        "backward_transient_mb": round(activations["transient"] / 1e6, 2),
    }


def main() -> None:  # the tests import CONFIGS and measure from here (tests/core/test_activation_memory.py)
    torch.set_num_threads(1)
    for config in CONFIGS:
        for checkpointing in (False, True):
            print(json.dumps(measure(config, checkpointing)), flush=True)


if __name__ == "__main__":
    main()
