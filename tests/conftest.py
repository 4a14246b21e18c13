"""Settings shared by the whole suite."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests use tiny tensors on a shared 2-core machine: one intra-op thread avoids OpenMP barrier stalls and keeps
    float reductions in the same order run to run. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seeded_torch():
    """Every test starts from the same torch RNG state (torch seeds itself from the OS otherwise, so an unseeded
    test would draw a different model init each run)."""
    torch.manual_seed(0)
    yield
