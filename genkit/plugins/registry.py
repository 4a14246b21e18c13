"""The registry: the declared roles and stages, and the components that fill each role, ``(role, kind)``.

Plugins fill it from their ``genkit_register_roles``, ``genkit_register_stages`` and
``genkit_register_components`` hooks (genkit's own roles and stages come from its built-in plugins). Core code looks
everything up here: a component by the kind a recipe names, a role's recipe section and Protocol, the stages in
pipeline order. Nothing is ever imported from a string.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from genkit.errors import PluginError, UnknownComponentError
from genkit.plugins.params import Params
from genkit.plugins.specs import RoleSpec, StageSpec, check_name

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ComponentSpec:
    """What a plugin registered for one (role, kind).

    ``build(params, context)`` returns a fresh component (an ``nn.Module`` for models) on the CPU with freshly
    initialised weights; ``context`` (:class:`genkit.BuildContext`) carries what the component needs from the
    rest of the recipe (image size, vocabulary sizes, grid).
    """

    role: str
    kind: str
    params: type[Params]
    build: Callable[[Any, Any], Any]
    owner: str
    description: str = ""


class Registry:
    """Roles and stages in registration order, and every component keyed by role then kind."""

    def __init__(self, roles: dict[str, RoleSpec] | None = None) -> None:
        self.roles: dict[str, RoleSpec] = dict(roles or {})
        self.stages: dict[str, StageSpec] = {}
        self._specs: dict[str, dict[str, ComponentSpec]] = {role: {} for role in self.roles}

    def check_new(self, roles: list[RoleSpec], stages: list[StageSpec]) -> None:
        """Raise ``PluginError`` naming both plugins when a role (name or section) or a stage is already declared."""
        for role in roles:
            for existing in self.roles.values():
                if role.name == existing.name or role.section == existing.section:
                    raise PluginError(
                        f"role {role.name!r} (section {role.section}:) is declared by both "
                        f"{existing.owner!r} and {role.owner!r}"
                    )
        for stage in stages:
            existing_stage = self.stages.get(stage.name)
            if existing_stage is not None:
                raise PluginError(
                    f"stage {stage.name!r} is declared by both {existing_stage.owner!r} and {stage.owner!r}"
                )

    def add_role(self, role: RoleSpec) -> None:
        check_name("role", role.name, role.owner)
        check_name("recipe section", role.section, role.owner)
        self.check_new([role], [])
        if role.section == "stages" or not isinstance(role.protocol, type):
            raise PluginError(
                f"plugin {role.owner!r}: role {role.name!r} needs a Protocol class and a section other than 'stages'"
            )
        self.roles[role.name] = role
        self._specs[role.name] = {}

    def add_stage(self, stage: StageSpec) -> None:
        check_name("stage", stage.name, stage.owner)
        self.check_new([], [stage])
        for role in (stage.trains, *stage.needs):
            if role is not None and role not in self.roles:
                raise PluginError(
                    f"plugin {stage.owner!r}: stage {stage.name!r} names role {role!r}; "
                    f"roles are: {', '.join(self.roles)}"
                )
        self.stages[stage.name] = stage

    def add(self, spec: ComponentSpec) -> None:
        if spec.role not in self.roles:
            raise PluginError(f"plugin {spec.owner!r} registers role {spec.role!r}; roles are: {', '.join(self.roles)}")
        if not _KIND_RE.match(spec.kind):
            raise PluginError(
                f"plugin {spec.owner!r} registers {spec.role} kind {spec.kind!r}: "
                "a kind is lowercase letters, digits and '_'"
            )
        if not (isinstance(spec.params, type) and issubclass(spec.params, Params)):
            raise PluginError(
                f"plugin {spec.owner!r}: params for {spec.role} {spec.kind!r} must subclass genkit.Params"
            )
        if "kind" in spec.params.model_fields:
            raise PluginError(f"plugin {spec.owner!r}: {spec.params.__name__} must not declare 'kind'")
        existing = self._specs[spec.role].get(spec.kind)
        if existing is not None:
            raise PluginError(
                f"{spec.role} kind {spec.kind!r} is registered by both {existing.owner!r} and {spec.owner!r}"
            )
        self._specs[spec.role][spec.kind] = spec

    def role(self, name: str) -> RoleSpec:
        """The declared role ``name``, or an error listing the roles."""
        try:
            return self.roles[name]
        except KeyError:
            raise UnknownComponentError(
                f"unknown role {name!r}{suggest(name, list(self.roles))}; roles are: {', '.join(self.roles)}"
            ) from None

    def role_of_section(self, section: str) -> RoleSpec | None:
        """The role configured by recipe section ``section`` (``data`` -> dataset), or ``None``."""
        return next((role for role in self.roles.values() if role.section == section), None)

    def get(self, role: str, kind: object) -> ComponentSpec:
        """The component ``kind`` of ``role``; an unknown one (or a non-string) is an error listing the kinds."""
        self.role(role)
        spec = self._specs[role].get(kind) if isinstance(kind, str) else None
        if spec is None:
            raise UnknownComponentError(unknown_kind_message(role, kind, self.kinds(role)))
        return spec

    def kinds(self, role: str) -> list[str]:
        return sorted(self._specs.get(role, {}))

    def __iter__(self) -> Iterator[ComponentSpec]:
        for role in self.roles:
            yield from (self._specs[role][k] for k in sorted(self._specs[role]))


def suggest(word: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` when a close match exists, else ``""``."""
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_kind_message(role: str, kind: Any, kinds: list[str]) -> str:
    valid = ", ".join(kinds) if kinds else "(none: no plugin registers one)"
    return f"unknown {role} kind {kind!r}{suggest(str(kind), kinds)} (valid kinds: {valid})"
