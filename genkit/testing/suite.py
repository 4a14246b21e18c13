"""What every role suite shares: the :class:`Case` a check runs on and the :class:`Suite` base class.

A role suite (``AutoencoderSuite``, ``TokenizerSuite``, ``PriorSuite``, ``RerankerSuite``, ``DatasetSuite``) is a
class whose ``test_*`` methods are the role's checks. A plugin's test module subclasses it, names the ``kind`` and
its ``params``, and pytest collects every inherited check. Each check method takes the ``genkit_conformance``
fixture (from the pytest plugin :mod:`genkit.testing.pytest_plugin`): the :class:`Case` built by
:meth:`Suite.make_case` from the class's attributes and hooks.

Outside pytest (or to run one check against a deliberately broken component)::

    suite = TestMyVAE()
    case = suite.make_case(tmp_path)
    suite.test_encode(case)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

import genkit
from genkit.plugins import Plugins, get_plugins

Check = Callable[[Any], None]


@dataclass(kw_only=True)
class Case:
    """One component under test: what every check needs.

    - ``params``: validated params carrying ``kind`` (from :func:`genkit.make_params`).
    - ``context``: the :class:`genkit.BuildContext` it is built with.
    - ``tmp_dir``: a scratch directory the checks may write into (exports).
    - ``plugins``: the plugin set to build, save and load through (``None``: the process's plugins).
    - ``builder``: ``builder(case) -> component`` (the suite's :meth:`Suite.build` hook); ``None`` builds through
      the registry.
    - ``seed``: ``torch.manual_seed`` before every build, so two builds of one case are identical.

    Subclasses (one per role) add what their checks need and set ``role``.
    """

    role: ClassVar[str] = ""

    params: Any
    context: genkit.BuildContext = dataclasses.field(default_factory=genkit.BuildContext)
    tmp_dir: Path | None = None
    plugins: Plugins | None = None
    builder: Callable[[Case], Any] | None = None
    seed: int = 0

    def build(self) -> Any:
        """A freshly built component (the same one each call: the torch seed is reset first)."""
        torch.manual_seed(self.seed)
        if self.builder is not None:
            return self.builder(self)
        return self.build_from_registry()

    def build_from_registry(self) -> Any:
        """The component built by its plugin through :func:`genkit.build_component`, with no suite hook."""
        return genkit.build_component(self.role, self.params, self.context, plugins=self.plugins)

    def scratch(self, name: str) -> Path:
        """A fresh path ``tmp_dir/name`` (not created) for a check to write into."""
        if self.tmp_dir is None:
            raise AssertionError("this check writes files: the case needs a tmp_dir")
        return Path(self.tmp_dir) / name

    def save_and_load(self, component: Any, name: str = "export") -> Any:
        """``component`` through :func:`genkit.save_component` and :func:`genkit.load_component` (in ``tmp_dir``)."""
        export = self.scratch(name)
        genkit.save_component(export, self.role, component, self.params, self.context, plugins=self.plugins)
        return genkit.load_component(export, self.role, plugins=self.plugins)


class Suite:
    """Base of the role suites. Subclass a role suite in a test module and set, as class attributes:

    - ``kind`` (required): the kind under test, as registered by the plugin.
    - ``params``: values for ``genkit.make_params(role, kind, params)`` (keep the component small: the checks run
      on the CPU, each building it afresh).
    - ``context``: :class:`genkit.BuildContext` fields, over the suite's ``default_context``.
    - ``plugin``: a plugin object (a module or an instance with ``@genkit.hookimpl`` methods) to register for the
      tests when it is not installed through an entry point.
    - ``seed``: the torch seed before every build (default 0).

    and override, when attributes are not enough:

    - ``make_params(tmp_path) -> dict``: the params values (e.g. pointing at files written into ``tmp_path``).
    - ``make_context(tmp_path) -> BuildContext``.
    - ``build(case) -> component``: how a component is built (default: through its plugin, from ``case.params``).

    A variant is one more subclass with other ``params`` (it inherits every check).
    """

    role: ClassVar[str] = ""
    case_type: ClassVar[type[Case]] = Case
    default_context: ClassVar[Mapping[str, Any]] = {}

    kind: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Any]] = {}
    context: ClassVar[Mapping[str, Any] | genkit.BuildContext] = {}
    plugin: ClassVar[Any] = None
    seed: ClassVar[int] = 0

    # -- hooks -------------------------------------------------------------------------------------------------
    def make_params(self, tmp_path: Path) -> Mapping[str, Any]:
        """The values for ``genkit.make_params`` (default: the ``params`` attribute)."""
        return dict(self.params)

    def make_context(self, tmp_path: Path) -> genkit.BuildContext:
        """The build context: ``default_context`` updated with the ``context`` attribute."""
        values = dict(self.default_context)
        if isinstance(self.context, genkit.BuildContext):
            values.update({k: v for k, v in dataclasses.asdict(self.context).items() if v is not None})
        else:
            values.update(self.context)
        if values.get("image_grid") is not None:
            values["image_grid"] = tuple(values["image_grid"])
        return genkit.BuildContext(**values)

    def case_options(self, tmp_path: Path) -> dict[str, Any]:
        """Role-specific fields of the case (set by each role suite from its own attributes)."""
        return {}

    def build(self, case: Case) -> Any:
        """Build the component under test (default: through its plugin). Override to wrap or alter it."""
        return case.build_from_registry()

    # -- the case ----------------------------------------------------------------------------------------------
    def make_case(self, tmp_path: Path, plugins: Plugins | None = None) -> Case:
        """The case every check of this class runs on (what the ``genkit_conformance`` fixture returns)."""
        if not self.kind:
            raise TypeError(f"{type(self).__name__}: set the class attribute kind = '...' (the {self.role} to test)")
        plugins = plugins or get_plugins()
        try:
            params = genkit.make_params(self.role, self.kind, self.make_params(Path(tmp_path)), plugins=plugins)
        except genkit.UnknownComponentError as exc:
            raise genkit.UnknownComponentError(
                f"{exc}; {type(self).__name__}: install the plugin (pip install -e .) or set plugin = <its module>"
            ) from None
        return self.case_type(
            params=params,
            context=self.make_context(Path(tmp_path)),
            tmp_dir=Path(tmp_path),
            plugins=plugins,
            builder=self.build,
            seed=self.seed,
            **self.case_options(Path(tmp_path)),
        )

    def check(self, check: Check, case: Case) -> None:
        """Run ``check(case)``; a failure is an ``AssertionError`` naming the role, the check and the kind."""
        __tracebackhide__ = True
        name = check.__name__.removeprefix("check_")
        kind = getattr(case.params, "kind", self.kind)
        try:
            check(case)
        except AssertionError as exc:
            raise AssertionError(f"{self.role} conformance, check {name!r} ({kind}): {exc}") from exc
