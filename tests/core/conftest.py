"""Plugin sets for the core tests: the toys of tests/toys.py, and a factory for isolated plugin sets."""

from __future__ import annotations

import pytest
from toys import ToyPlugin, isolated_plugins

#: The roles the core tests' toy set registers: no tokenizer and no reranker, so that recipes of the toys need
#: neither and a reranker section names a role that no installed plugin registers.
CORE_ROLES = ("dataset", "autoencoder", "prior")


@pytest.fixture(scope="module")
def make_plugins():
    """``make_plugins(*plugin_objects, env=...)``: a plugin set with only the built-ins and the given plugins."""
    return isolated_plugins


@pytest.fixture(scope="module")
def toy_plugins(make_plugins):
    """The toys' dataset, autoencoders and prior. Read-only: tests must not register more plugins into it."""
    return make_plugins(ToyPlugin(CORE_ROLES))


@pytest.fixture
def use_plugins(monkeypatch):
    """Make a plugin set the process's plugins for the duration of a test (for CLI tests)."""
    from genkit import plugins as plugins_module

    def install(plugins):
        monkeypatch.setattr(plugins_module.manager, "_loaded", plugins)
        return plugins

    return install
