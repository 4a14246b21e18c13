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
