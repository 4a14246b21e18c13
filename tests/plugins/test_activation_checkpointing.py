"""Activation checkpointing (genkit.helpers.checkpointing) in both transformer priors: the same losses and
gradients as without it, nothing checkpointed in evaluation or sampling, and the recipe setting's rules."""

import pytest
import torch

import genkit
from genkit.helpers import checkpoint_interval, checkpointed_blocks, run_block
from genkit.precision.per_resblock import PerResblockScaler

CONTEXT = genkit.BuildContext(text_vocab_size=50, text_length=6, image_vocab_size=32, image_grid=(4, 4))
SPARSE = {"width": 32, "depth": 4, "heads": 2, "conv_kernel": 3, "caption_dropout": 0.3}
MASKGIT = {"width": 32, "depth": 3, "heads": 2, "dropout": 0.1}


def build(kind, values, checkpointing):
    torch.manual_seed(0)
    params = genkit.make_params("prior", kind, {**values, "checkpoint_activations": checkpointing})
    return genkit.build_component("prior", params, CONTEXT)


def batch(size=3, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, 50, (size, 6), generator=gen),
        torch.randint(0, 7, (size,), generator=gen),
        torch.randint(0, 32, (size, 4, 4), generator=gen),
    )


def loss_and_grads(prior, data, seed=5):
    prior.train()
    torch.manual_seed(seed)  # caption dropout and dropout draw from the global generator
    loss, _ = prior.loss(*data)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in prior.named_parameters()}


@pytest.mark.parametrize("kind, values", [("sparse_transformer", SPARSE), ("maskgit", MASKGIT)])
@pytest.mark.parametrize("checkpointing", [True, 2])
def test_same_loss_and_gradients_as_without_checkpointing(kind, values, checkpointing):
    data = batch()
    plain_loss, plain = loss_and_grads(build(kind, values, False), data)
    loss, grads = loss_and_grads(build(kind, values, checkpointing), data)
    torch.testing.assert_close(loss, plain_loss, rtol=0, atol=0)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain[name], rtol=1e-6, atol=1e-7, msg=name)


def test_composes_with_per_resblock_scaling():
    data = batch()
    results = []
    for checkpointing in (False, True):
        prior = build("sparse_transformer", SPARSE, checkpointing)
        scaler = PerResblockScaler(prior.residual_blocks())
        scaler.scales = [2.0**i for i in range(len(scaler.scales))]  # a different scale per branch
        results.append(loss_and_grads(prior, data))
        scaler.remove()
    (plain_loss, plain), (loss, grads) = results
    torch.testing.assert_close(loss, plain_loss, rtol=0, atol=0)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain[name], rtol=1e-6, atol=1e-6, msg=name)


class Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear(x).tanh()


def test_run_block_recomputes_only_in_training_with_autograd():
    block, x = Counting(), torch.randn(2, 4, requires_grad=True)
    run_block(block, x).sum().backward()
    assert block.calls == 2  # the forward, then its recomputation in the backward pass
    run_block(block, x, checkpoint=False).sum().backward()
    assert block.calls == 3
    with torch.no_grad():
        run_block(block, x)
    with torch.inference_mode():
        run_block(block, x)
    block.eval()
    run_block(block, x).sum().backward()
    assert block.calls == 6


def test_sampling_with_the_kv_cache_is_unchanged():
    plain, checkpointed = build("sparse_transformer", SPARSE, False), build("sparse_transformer", SPARSE, True)
    checkpointed.load_state_dict(plain.state_dict())
    text, lengths, _ = batch(2)
    draws = [
        prior.sample(text, lengths, candidates=2, generator=torch.Generator().manual_seed(3))
        for prior in (plain, checkpointed)
    ]
    assert torch.equal(draws[0], draws[1])
    assert checkpointed.training  # sampling restores the mode it found


def test_the_setting():
    assert checkpointed_blocks(5, False) == [False] * 5 and checkpointed_blocks(5, 0) == [False] * 5
    assert checkpointed_blocks(3, True) == [True] * 3 and checkpointed_blocks(3, 1) == [True] * 3
    assert checkpointed_blocks(5, 2) == [True, False, True, False, True]
    assert checkpoint_interval(True) == 1 and checkpoint_interval(3) == 3
    for good in (True, False, 0, 4):
        genkit.make_params("prior", "sparse_transformer", {"checkpoint_activations": good})
    with pytest.raises(genkit.InputError, match="checkpoint_activations.*interval"):
        genkit.make_params("prior", "sparse_transformer", {"checkpoint_activations": -1})
    with pytest.raises(genkit.InputError, match="checkpoint_activations.*interval"):
        genkit.make_params("prior", "maskgit", {"checkpoint_activations": "often"})
