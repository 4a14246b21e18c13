"""Command-line overrides: ``prior.depth=8``, ``autoencoder=vqvae``, ``stages.sample.prompts=[a, b]``.

The value is read as YAML (so ``8`` is an int, ``[a, b]`` a list, ``null`` is None) and typed for good by the
recipe's schema when the recipe validates. Setting a role section to a kind (``autoencoder=vqvae``, or
``autoencoder.kind=vqvae`` with a different kind) replaces the whole section with that kind's defaults.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import yaml

from genkit.errors import InputError
from genkit.recipe.yaml_io import DuplicateKeyError, load_yaml

_SEGMENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_-]*|\d+)$")


@dataclass(frozen=True)
class Override:
    """One parsed ``key.path=value``."""

    text: str
    path: tuple[str | int, ...]
    value: Any


def parse_override(text: str) -> Override:
    key, sep, raw = text.partition("=")
    if not sep:
        raise InputError(f"override {text!r}: expected KEY=VALUE, e.g. prior.depth=8 or autoencoder=vqvae")
    key = key.strip()
    parts = key.split(".")
    if not key or not all(_SEGMENT.match(part) for part in parts):
        raise InputError(f"override {text!r}: {key!r} is not a dotted key like prior.depth or stages.prior.lr")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        label = "" if isinstance(exc, DuplicateKeyError) else "value is not valid YAML: "
        raise InputError(f"override {text!r}: {label}{problem}") from None
    path = tuple(int(p) if p.isdigit() else p for p in parts)
    if isinstance(path[0], int):
        raise InputError(f"override {text!r}: a key path starts with a section name, not an index")
    return Override(text, path, value)


def apply_overrides(
    data: dict[str, Any], overrides: list[Override], role_sections: Collection[str] = ()
) -> dict[str, Any]:
    """A copy of ``data`` with ``overrides`` applied in order. Never modifies ``data``.

    In a section of ``role_sections`` (the recipe keys of the registered roles), ``SECTION=KIND`` and
    ``SECTION.kind=KIND`` swap the component: the node becomes ``{kind: KIND}`` with that kind's defaults."""
    result = copy.deepcopy(data)
    for override in overrides:
        _apply(result, override, frozenset(role_sections))
    return result


def _apply(root: dict[str, Any], override: Override, role_sections: frozenset[str]) -> None:
    path, value = override.path, copy.deepcopy(override.value)
    head = path[0]
    if head in role_sections and len(path) == 1 and isinstance(value, str):
        root[head] = {"kind": value}  # swap the component: that kind's defaults, no old key leaks
        return
    if head in role_sections and len(path) == 2 and path[1] == "kind":
        current = root.get(head)
        if not isinstance(current, dict) or current.get("kind") != value:
            root[head] = {"kind": value}
        return
    node: Any = root
    for depth, part in enumerate(path[:-1]):
        where = ".".join(map(str, path[: depth + 1]))
        if isinstance(node, dict) and isinstance(part, int):
            raise InputError(f"override {override.text!r}: {where}: index into a section; {part} must address a list")
        if isinstance(node, dict):
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                raise InputError(
                    f"override {override.text!r}: {where}: index {part} is out of range (length {len(node)})"
                )
            node = node[part]
        else:
            raise InputError(f"override {override.text!r}: {where}: cannot go into a {_type(node)}")
        if not isinstance(node, (dict, list)):
            raise InputError(f"override {override.text!r}: {where} is a value ({node!r}), not a section")
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, int):
        parent = ".".join(map(str, path[:-1]))
        raise InputError(
            f"override {override.text!r}: {parent} is not a list in this recipe; set the whole list ({parent}=[...])"
        )
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int):
        if last >= len(node):
            raise InputError(f"override {override.text!r}: index {last} is out of range (length {len(node)})")
        node[last] = value
    else:
        raise InputError(f"override {override.text!r}: cannot set key {last!r} in a {_type(node)}")


def _type(value: Any) -> str:
    names: dict[type, str] = {dict: "section", list: "list"}
    return names.get(type(value), type(value).__name__)
