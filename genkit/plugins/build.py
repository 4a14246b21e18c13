"""Build components by kind, outside a recipe (tests, notebooks, plugin commands)."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from genkit.errors import GenkitError, InputError, PluginError
from genkit.plugins.context import BuildContext
from genkit.plugins.manager import Plugins, get_plugins


def make_params(
    role: str, kind: str, values: Mapping[str, Any] | None = None, plugins: Plugins | None = None
) -> BaseModel:
    """Validated params for ``(role, kind)``, carrying ``kind`` exactly as a recipe section would.

    ``make_params("tokenizer", "bpe", {"vocab_size": 512})``. Bad values raise ``InputError`` naming the key.
    """
    from genkit.recipe.schema import kind_model

    plugins = plugins or get_plugins()
    spec = plugins.registry.get(role, kind)
    try:
        return kind_model(spec).model_validate({**dict(values or {}), "kind": kind})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{role} {kind}: {key}: {first['msg']}") from None


def build_component(
    role: str, params: BaseModel, context: BuildContext | None = None, plugins: Plugins | None = None
) -> Any:
    """Build ``role`` from validated ``params`` (from a recipe or :func:`make_params`) through the registry.

    A build function that raises anything but a genkit error is reported as one line naming the plugin."""
    plugins = plugins or get_plugins()
    spec = plugins.registry.get(role, getattr(params, "kind", None))
    try:
        component = spec.build(params, context or BuildContext())
    except GenkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's failure must name the plugin, not show its traceback
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise PluginError(
            f"{role} {spec.kind}: plugin {spec.owner!r} failed to build it ({type(exc).__name__}: {detail})"
        ) from exc
    protocol = plugins.registry.role(role).protocol
    missing = missing_members(component, protocol)
    if missing:
        raise PluginError(
            f"{role} {spec.kind}: plugin {spec.owner!r} built a {type(component).__name__} without "
            f"{', '.join(repr(name) for name in missing)}, which the {role} role requires (genkit.{protocol.__name__})"
        )
    return component


def protocol_members(protocol: type) -> list[str]:
    """The public attributes and methods a Protocol class declares (its own and its Protocol bases')."""
    names: list[str] = []
    for cls in protocol.__mro__:
        if cls in (object, typing.Protocol, typing.Generic) or not getattr(cls, "_is_protocol", False):
            continue
        for name in [*getattr(cls, "__annotations__", {}), *vars(cls)]:
            if not name.startswith("_") and name not in names:
                names.append(name)
    return names


def missing_members(component: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``component`` lacks (empty when it has them all)."""
    return [name for name in protocol_members(protocol) if not hasattr(component, name)]
