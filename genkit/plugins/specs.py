"""What a role and a stage *are*, each declared once: :class:`RoleSpec` and :class:`StageSpec`.

Built-in roles and stages are registered by genkit's own plugins (``genkit.roles.plugin``,
``genkit.stages.plugin``) through the same hooks a third party uses (``genkit_register_roles``,
``genkit_register_stages``). Everything else is derived from these declarations: the recipe schema (one section per
role, one ``stages.NAME`` section per stage with settings), the pipeline's order, the CLI's choices
(``genkit describe ROLE``, ``genkit run --stage``), the checks across sections, which part of a recipe provides
each :class:`genkit.BuildContext` fact, and the reference docs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from genkit.errors import PluginError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RoleSpec:
    """One role a component can fill.

    - ``name``: the role (``autoencoder``); ``section``: its recipe key (``data`` for the dataset).
    - ``protocol``: the ``typing.Protocol`` a built component satisfies; :func:`genkit.build_component` checks
      its members, and the docs print its docstring as the role's contract.
    - ``required``: every recipe must have the section (the dataset).
    - ``provides``: the :class:`genkit.BuildContext` fields a built component of this role gives later
      components, and ``context_of(component) -> {field: value}`` reads them off a built (or meta) component.
    """

    name: str
    section: str
    protocol: type
    description: str
    required: bool = False
    provides: tuple[str, ...] = ()
    context_of: Callable[[Any], Mapping[str, Any]] | None = None
    owner: str = ""

    def context_from(self, component: Any) -> dict[str, Any]:
        """The build-context facts ``component`` provides (``{}`` when the role provides none)."""
        if self.context_of is None:
            return {}
        facts = dict(self.context_of(component))
        if set(facts) != set(self.provides):
            raise PluginError(f"role {self.name!r}: context_of gave {sorted(facts)}, declared {list(self.provides)}")
        return facts


@dataclass(frozen=True)
class StageSpec:
    """One stage of the pipeline, run in registration order.

    - ``run(state) -> final metrics``: the stage's runner (``state``: :class:`genkit.stages.common.PipelineState`).
    - ``settings``: the pydantic model of its ``stages.NAME`` recipe section. A stage with settings runs when the
      recipe has that section. A stage without settings is *implied*: it runs when the recipe has the section of
      the role it ``trains`` and a planned stage ``needs`` that role (the tokenizer trains before the prior).
    - ``trains``: the role whose export it writes (the recipe must have that role's section), or ``None``.
    - ``needs``: roles whose exports it reads, so trained by an earlier stage or an earlier run;
      ``needs_when(settings)`` adds those it reads only with some settings (the reranker reads the autoencoder
      for hard negatives). :meth:`needs_for` is both.
    """

    name: str
    run: Callable[[Any], Mapping[str, float]]
    description: str
    settings: type[BaseModel] | None = None
    trains: str | None = None
    needs: tuple[str, ...] = ()
    needs_when: Callable[[Any], tuple[str, ...]] | None = None
    owner: str = ""

    @property
    def implied(self) -> bool:
        return self.settings is None

    def needs_for(self, settings: Any) -> tuple[str, ...]:
        """The roles this stage reads with ``settings`` (its ``stages.NAME`` section, ``None`` if implied)."""
        extra = self.needs_when(settings) if self.needs_when is not None and settings is not None else ()
        return (*self.needs, *(role for role in extra if role not in self.needs))


def check_name(what: str, name: str, owner: str) -> None:
    if not NAME_RE.match(name):
        raise PluginError(f"plugin {owner!r} registers {what} {name!r}: a name is lowercase letters, digits and '_'")
