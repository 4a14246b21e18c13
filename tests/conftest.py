"""Settings shared by the whole suite: Hypothesis profiles, the shared helper modules on the path, one torch thread
and a seeded torch RNG per test."""

import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

# tests/toys.py and tests/hypothesis_budget.py are imported by name from any folder (importlib import mode: put
# their folder on the path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

# -- Hypothesis profiles ------------------------------------------------------------------------------------------
# Property tests carry no @settings of their own: the profile says how hard every one of them looks. Pick one with
# HYPOTHESIS_PROFILE=NAME (or pytest's --hypothesis-profile NAME); without it, "ci" when CI is set, else "default".
# A test whose every example is expensive (it builds a model) asks for fewer with hypothesis_budget.costly(n),
# which scales with the profile.
#
# - default: Hypothesis's own 100 examples, random, failures replayed from an example database kept outside the
#   source tree (XDG_CACHE_HOME or ~/.cache, genkit-hypothesis/: tests never write into the checkout). No
#   deadline: the suite runs on shared 2-core machines, where one example's time says nothing.
# - ci: the same examples every run (derandomized, no database), no deadline and no too-slow health check, so a
#   loaded machine cannot fail a run; a failure prints the blob that reproduces it.
# - thorough: 10x the examples, for a run before a release or after touching parsing, masks or overrides
#   (`HYPOTHESIS_PROFILE=thorough make test`).
HYPOTHESIS_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genkit-hypothesis"
set_hypothesis_home_dir(HYPOTHESIS_HOME)  # its caches too (constants, unicode data), not ./.hypothesis
settings.register_profile(
    "default",
    max_examples=100,
    deadline=None,
    database=DirectoryBasedExampleDatabase(str(HYPOTHESIS_HOME / "examples")),
)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None)

HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
try:
    settings.load_profile(HYPOTHESIS_PROFILE)
except Exception as error:  # hypothesis's InvalidArgument
    raise pytest.UsageError(f"HYPOTHESIS_PROFILE={HYPOTHESIS_PROFILE!r}: {error} (default, ci, thorough)") from None


def pytest_report_header(config):
    """Name the Hypothesis profile on every run (Hypothesis's own line shows only with -v)."""
    if config.option.verbose < 1:
        return f"hypothesis profile {settings.get_current_profile_name()!r} (HYPOTHESIS_PROFILE: default, ci, thorough)"


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
