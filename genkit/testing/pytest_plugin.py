"""genkit's pytest plugin: the fixtures of the conformance kit (:mod:`genkit.testing`).

Installed with genkit (entry point ``pytest11: genkit``), so pytest loads it in every session of an environment
where genkit is installed: it only defines fixtures, all named ``genkit_*``, adds no hook, option or marker, and
imports nothing of genkit beyond the package until a test asks for one of its fixtures. Where plugin autoloading is
off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), load it with ``pytest -p genkit.testing.pytest_plugin``.

- ``genkit_plugins`` (class scope): the plugin set a test builds components with. The process's plugins, or, in a
  test class whose ``plugin`` attribute names a plugin object not installed through an entry point, a fresh set
  with that object registered, made the process's plugins for the class's tests and put back after them.
- ``genkit_conformance``: the :class:`genkit.testing.suite.Case` of the requesting suite class (a subclass of
  ``AutoencoderSuite``, ``TokenizerSuite``, ``PriorSuite``, ``RerankerSuite`` or ``DatasetSuite``), made by its
  ``make_case(tmp_path, genkit_plugins)``: what every inherited ``test_*`` check runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from genkit.plugins import Plugins
    from genkit.testing.suite import Case


@pytest.fixture(scope="class")
def genkit_plugins(request: pytest.FixtureRequest) -> Iterator[Plugins]:
    """The plugins to build with: the process's, plus the test class's ``plugin`` object when it has one."""
    from genkit.plugins import get_plugins, set_plugins

    plugin = getattr(request.cls, "plugin", None) if request.cls is not None else None
    if plugin is None:
        yield get_plugins()
        return
    previous = get_plugins()
    plugins = plugins_with(plugin)
    set_plugins(plugins)
    try:
        yield plugins
    finally:
        set_plugins(previous)


def plugins_with(plugin: Any) -> Plugins:
    """A fresh plugin set loaded from the environment with ``plugin`` registered too (unless an entry point
    already loaded this very object). A plugin that fails to register fails the test, with the reason."""
    from genkit.plugins import Plugins

    plugins = Plugins().load()
    if plugins.manager.is_registered(plugin):
        return plugins
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    plugins.register_plugin(plugin, name)
    failed = [f"{f.name}: {f.reason}" for f in plugins.failures if f.name == name]
    if failed:
        pytest.fail(f"genkit_plugins: the test's plugin {failed[0]}", pytrace=False)
    return plugins


@pytest.fixture
def genkit_conformance(request: pytest.FixtureRequest, tmp_path: Path, genkit_plugins: Plugins) -> Case:
    """The case the requesting suite class's checks run on (see :meth:`genkit.testing.suite.Suite.make_case`)."""
    make_case = getattr(request.instance, "make_case", None)
    if make_case is None:
        pytest.fail(
            "genkit_conformance is for the checks of a genkit.testing suite: use it in a class deriving from one "
            "(e.g. class TestMyVAE(genkit.testing.AutoencoderSuite))",
            pytrace=False,
        )
    case: Case = make_case(tmp_path, genkit_plugins)  # found by name on the suite class
    return case
