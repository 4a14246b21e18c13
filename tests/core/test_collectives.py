"""genkit.helpers.collectives outside torchrun: every call is the identity (the two-rank behaviour is tested through the
plugins in tests/distributed/)."""

import torch

from genkit.helpers import collectives


def test_one_process_leaves_tensors_alone():
    assert collectives.world_size() == 1
    counts = torch.arange(4.0)
    collectives.sum_over_ranks(counts, None)
    assert torch.equal(counts, torch.arange(4.0))
    assert torch.equal(collectives.from_rank_zero(counts), counts)
    rows = torch.randn(3, 2, requires_grad=True)
    gathered, first = collectives.gather_rows(rows)
    assert gathered is rows and first == 0
