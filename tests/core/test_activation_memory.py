"""The memory plan against a measurement: a CPU training step's peak tensor memory (torch.profiler's allocation
events, genkit.memory_measure) is within 25% of genkit.sizing.planned_peak on three small priors, with and
without activation checkpointing; checkpointing lowers the measured peak as planned."""

import pytest
import torch

import genkit
from genkit.activations import activation_bytes, transformer_shape
from genkit.memory_measure import cpu_peak_bytes, measured_step_peak, tensor_bytes
from genkit.sizing import planned_peak, prior_sizes_on_meta

# (name, prior params, text vocab, text length, image vocab, grid, batch)
CONFIGS = [
    ("activations-dominate", dict(width=128, depth=4, heads=4, conv_kernel=3), 1000, 16, 256, (8, 8), 8),
    ("parameters-dominate", dict(width=256, depth=2, heads=4, attention="full"), 4000, 32, 512, (8, 8), 2),
    ("long-stream", dict(width=64, depth=6, heads=2, conv_kernel=5), 500, 16, 256, (16, 16), 16),
]


def plan_and_measure(config, checkpointing):
    _, params, text_vocab, text_length, image_vocab, grid, batch_size = config
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

    step()  # the optimizer states exist from here on
    measured = measured_step_peak(step, prior, optimizer, batch)
    parameters, largest, _ = prior_sizes_on_meta(prior)
    activations = activation_bytes(transformer_shape(prior), batch_size, "fp32")
    return planned_peak(parameters, largest, 1, activations, precision="fp32", optim="adamw"), measured


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
