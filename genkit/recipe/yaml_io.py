"""YAML reading for recipes and overrides: safe, and with YAML 1.2 floats (``1e-3`` is a number, not a string)."""

from __future__ import annotations

import re
from typing import Any

import yaml


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3``, ``3E5`` and ``.5e2`` as floats."""


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


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader
