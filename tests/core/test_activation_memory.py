"""The memory plan against a measurement: a CPU training step's peak tensor memory (torch.profiler's allocation
events, genkit.memory_measure) is within 25% of genkit.sizing.planned_peak on three small priors, with and
without activation checkpointing; checkpointing lowers the measured peak as planned."""

import importlib
import sys
from pathlib import Path

import pytest
import torch

import genkit
from genkit.activations import activation_bytes, transformer_shape
from genkit.memory_measure import cpu_peak_bytes, tensor_bytes

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_memory.py"
sys.path.insert(0, str(SCRIPT.parent))
try:  # the benchmark's configs and its measurement, asserted here
    bench_memory = importlib.import_module("bench_memory")
finally:
    sys.path.remove(str(SCRIPT.parent))
CONFIGS = bench_memory.CONFIGS


def plan_and_measure(config, checkpointing):
    result = bench_memory.measure(config, checkpointing)
    return result["planned_bytes"], result["measured_bytes"]


@pytest.mark.parametrize("config", CONFIGS, ids=[c[0] for c in CONFIGS])
@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "checkpointed"])
def test_planned_peak_is_within_25_percent_of_the_measured_peak(config, checkpointing):
    planned, measured = plan_and_measure(config, checkpointing)
    assert 0.75 <= planned / measured <= 1.25, (planned, measured)


def test_checkpointing_lowers_the_measured_peak_as_planned():
    plain_plan, plain = plan_and_measure(CONFIGS[2], False)
    checkpointed_plan, checkpointed = plan_and_measure(CONFIGS[2], True)
    assert checkpointed < 0.4 * plain  # measured 35 MB against 130 MB
    assert checkpointed_plan < 0.4 * plain_plan


def test_cpu_peak_counts_what_is_allocated_at_once():
    x = torch.zeros(1000, 1000)

    def step():
        a = x + 1  # 4 MB
        b = a * 2  # 8 MB live
        del a
        c = b + 1  # 8 MB live again
        return c.sum()

    assert cpu_peak_bytes(step) == pytest.approx(8_000_000, rel=0.01)
    assert tensor_bytes([x, x[1:], 3]) == 4_000_000  # a view shares its storage; non-tensors are skipped


def test_the_activation_model_counts_a_block_as_documented():
    context = genkit.BuildContext(text_vocab_size=10, text_length=4, image_vocab_size=16, image_grid=(2, 2))
    params = genkit.make_params("prior", "sparse_transformer", {"width": 16, "depth": 3, "heads": 2})
    with torch.device("meta"):
        shape = transformer_shape(genkit.build_component("prior", params, context))
    assert (shape.width, shape.attention_width, shape.mlp_hidden, shape.sequence) == (16, 16, 64, 8)
    assert shape.outputs == ((4, 14), (4, 16)) and shape.depth == 3
    d, h, f, tokens = 16, 16, 64, 2 * 8
    plain = activation_bytes(shape, 2, "fp32", False)["kept"]
    heads = 2 * 4 * (14 + 16) * 4
    assert plain == (3 * (16 * d + 16 * h + 8 * f + 16 + 4 * 2) + 4 * d) * tokens + heads
    every = activation_bytes(shape, 2, "bf16", True)["kept"]
    assert every == (3 * 4 * d + 2 * d) * tokens + heads
    assert activation_bytes(shape, 2, "fp32", 2)["kept"] < plain  # blocks 0 and 2 checkpointed
