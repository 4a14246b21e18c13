"""YAML reading for recipes and overrides: safe, with YAML 1.2 floats (``1e-3`` is a number, not a string), and
duplicate keys refused (plain YAML keeps the last one silently)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class DuplicateKeyError(ConstructorError):
    """A mapping that names the same key twice. ``problem_mark`` is the second occurrence."""


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3``, ``3E5`` and ``.5e2`` as floats and refuses duplicate keys."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, (), set())
        return self.construct_document(node)


RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _refuse_duplicate_keys(node: Node, path: tuple[str, ...], seen: set[int]) -> None:
    """Walk the composed document; a mapping with the same scalar key twice raises :class:`DuplicateKeyError`
    naming the dotted key and both lines. Merge keys (``<<``) are left to YAML: an explicit key may override a
    merged one."""
    if id(node) in seen:  # an alias to a node already walked
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first: dict[tuple[str, str], Node] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                name = (key.tag, key.value)
                dotted = ".".join((*path, key.value))
                if name in first:
                    raise DuplicateKeyError(
                        None,
                        None,
                        f"duplicate key {dotted!r} (first at line {first[name].start_mark.line + 1}; "
                        "YAML would silently keep only the last)",
                        key.start_mark,
                    )
                first[name] = key
                _refuse_duplicate_keys(value, (*path, key.value), seen)
            else:
                _refuse_duplicate_keys(value, path, seen)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, (*path, str(index)), seen)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader
