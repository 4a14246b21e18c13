"""The component registry: ``(role, kind) -> ComponentSpec``.

Plugins fill it from their ``genkit_register_components(register)`` hook. Core code looks components up here by
the kind a recipe names; nothing is ever imported from a string.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from genkit.errors import PluginError, UnknownComponentError
from genkit.plugins.params import Params

#: The roles a component can fill, and the recipe section that configures each.
ROLES: dict[str, str] = {
    "dataset": "data",
    "tokenizer": "tokenizer",
    "autoencoder": "autoencoder",
    "prior": "prior",
    "reranker": "reranker",
}

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
    """All registered components, keyed by role then kind."""

    def __init__(self) -> None:
        self._specs: dict[str, dict[str, ComponentSpec]] = {role: {} for role in ROLES}

    def add(self, spec: ComponentSpec) -> None:
        if spec.role not in ROLES:
            raise PluginError(f"plugin {spec.owner!r} registers role {spec.role!r}; roles are: {', '.join(ROLES)}")
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

    def get(self, role: str, kind: str) -> ComponentSpec:
        if role not in ROLES:
            raise UnknownComponentError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
        try:
            return self._specs[role][kind]
        except KeyError:
            raise UnknownComponentError(unknown_kind_message(role, kind, self.kinds(role))) from None

    def kinds(self, role: str) -> list[str]:
        return sorted(self._specs[role])

    def __iter__(self) -> Iterator[ComponentSpec]:
        for role in ROLES:
            yield from (self._specs[role][k] for k in sorted(self._specs[role]))


def suggest(word: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` when a close match exists, else ``""``."""
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_kind_message(role: str, kind: Any, kinds: list[str]) -> str:
    valid = ", ".join(kinds) if kinds else "(none: no plugin registers one)"
    return f"unknown {role} kind {kind!r}{suggest(str(kind), kinds)} (valid kinds: {valid})"
