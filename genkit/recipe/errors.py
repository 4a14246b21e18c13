"""Turn pydantic validation errors into one line per problem: ``FILE: dotted.key: message``."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from genkit.plugins.registry import Registry, suggest, unknown_kind_message
from genkit.recipe.overrides import Override


def format_validation_error(
    error: ValidationError,
    source: str,
    data: dict[str, Any],
    model: type[BaseModel],
    registry: Registry,
    overrides: list[Override],
) -> list[str]:
    problems: list[str] = []
    for item in error.errors():
        loc = _clean_loc(tuple(item["loc"]), data, registry)
        key = ".".join(str(part) for part in loc) or "(top level)"
        message = _message(item, loc, data, model, registry)
        line = f"{source_of(source, overrides, loc)}: {key}: {message}"
        if line not in problems:
            problems.append(line)
    return problems


def source_of(source: str, overrides: list[Override], *locs: tuple[Any, ...]) -> str:
    """``FILE``, or ``FILE (override TEXT)`` for the last override that set one of ``locs`` (or a key above or
    below one of them)."""
    found = source
    for override in overrides:
        for loc in locs:
            if tuple(loc[: len(override.path)]) == override.path or tuple(override.path[: len(loc)]) == tuple(loc):
                found = f"{source} (override {override.text})"
    return found


def _clean_loc(loc: tuple[Any, ...], data: dict[str, Any], registry: Registry) -> tuple[Any, ...]:
    """Drop the tag pydantic inserts after a discriminated-union section: ``prior.sparse_transformer.depth``
    -> ``prior.depth``."""
    if len(loc) >= 2 and registry.role_of_section(str(loc[0])) is not None:
        node = data.get(loc[0])
        if isinstance(node, dict) and node.get("kind") == loc[1]:
            return (loc[0],) + loc[2:]
    return loc


def _message(
    item: ErrorDetails, loc: tuple[Any, ...], data: dict[str, Any], model: type[BaseModel], registry: Registry
) -> str:
    kind = item["type"]
    section = loc[0] if loc else None
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1], data, registry)
        hint = suggest(str(loc[-1]), allowed)
        return f"unknown key{hint}" if hint or not allowed else f"unknown key (valid keys: {', '.join(allowed)})"
    role_spec = registry.role_of_section(str(section)) if section is not None else None
    if kind in {"union_tag_invalid", "union_tag_not_found"} and role_spec is not None:
        role = role_spec.name
        kinds = registry.kinds(role)
        if kind == "union_tag_not_found":
            return f"missing 'kind' (valid kinds: {', '.join(kinds)})"
        return unknown_kind_message(role, item["input"].get("kind") if isinstance(item["input"], dict) else None, kinds)
    if kind == "model_attributes_type" or kind == "model_type" or kind == "dict_type":
        return f"expected a section (mapping of keys), got {_short(item.get('input'))}"
    if kind == "missing":
        return "required key is missing"
    if kind == "none_required" and role_spec is not None and len(loc) == 1:
        return f"no installed plugin registers a {role_spec.name} (see `genkit plugins`)"
    if kind == "int_parsing_size":  # pydantic's words ("input string") are wrong for a YAML number
        return f"too large: an integer setting must fit in 64 bits (got {_short(item.get('input'))})"
    if kind == "value_error":  # a validator's own message: no pydantic prefix
        text = str(item.get("ctx", {}).get("error", "")) or item["msg"]
        if isinstance(item.get("input"), dict) or "got " in text:  # a model validator's, or it gives the value
            return text
        return f"{text} (got {_short(item.get('input'))})"
    if kind == "too_many_steps":  # genkit.plugins.params.SaneNumbers: the message gives the value
        return str(item["msg"])
    return f"{item['msg']} (got {_short(item.get('input'))})"


def _fields_at(model: Any, loc: tuple[Any, ...], data: Any, registry: Registry) -> list[str]:
    """Field names of the model found by walking ``loc`` from ``model`` (following the data for unions)."""
    current: Any = model
    node: Any = data
    for depth, part in enumerate(loc):
        role = registry.role_of_section(str(part)) if depth == 0 else None
        if role is not None:
            kind = node.get(part, {}).get("kind") if isinstance(node, dict) else None
            try:
                spec = registry.get(role.name, kind)
            except Exception:  # noqa: BLE001 - no known kind: nothing to suggest
                return []
            current, node = spec.params, node.get(part)
            continue
        annotation = _model_of(current, part)
        if annotation is None:
            return []
        current = annotation
        node = node.get(part) if isinstance(node, dict) else None
    if (
        len(loc) == 1 and registry.role_of_section(str(loc[0])) is not None
    ):  # a role section: its params plus the added 'kind'
        return ["kind", *sorted(current.model_fields)]
    return sorted(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_of(model: Any, field: Any) -> type[BaseModel] | None:
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or field not in model.model_fields:
        return None
    annotation = model.model_fields[field].annotation
    candidates = [annotation]
    while candidates:
        candidate = candidates.pop()
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        if typing.get_origin(candidate) in (typing.Union, types.UnionType, typing.Annotated):
            candidates.extend(typing.get_args(candidate))
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
