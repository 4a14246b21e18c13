"""``genkit describe ROLE KIND``: every parameter of a component, with type, default and description."""

from __future__ import annotations

import argparse
import json
import typing

from pydantic.fields import FieldInfo

from genkit.plugins.manager import get_plugins

NAME = "describe"
HELP = "show every parameter of a component (type, default, description)"
DESCRIPTION = """\
Show a registered component's parameters: name, type, default and description, as a recipe section uses them.

examples:
  genkit describe autoencoder dvae
  genkit describe prior sparse_transformer --json
"""


def setup(parser: argparse.ArgumentParser) -> None:
    roles = get_plugins().registry.roles
    parser.add_argument(
        "role",
        choices=list(roles),
        help="the role: " + "; ".join(f"{name} ({spec.description.rstrip('.')})" for name, spec in roles.items()),
    )
    parser.add_argument("kind", help="the registered kind (see `genkit plugins`)")
    parser.add_argument("--json", action="store_true", help="print the parameters' JSON Schema")


def type_name(annotation: typing.Any) -> str:
    text = getattr(annotation, "__name__", None) if typing.get_origin(annotation) is None else None
    return text or str(annotation).replace("typing.", "")


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"
    value = field.get_default(call_default_factory=True)
    return json.dumps(value) if isinstance(value, (list, dict, str, bool, type(None))) else str(value)


def run(args: argparse.Namespace) -> int:
    spec = get_plugins().registry.get(args.role, args.kind)
    if args.json:
        print(json.dumps(spec.params.model_json_schema(), indent=2))
        return 0
    info = get_plugins().infos.get(spec.owner)
    version = f"{info.distribution} {info.version}" if info else "?"
    print(f"{args.role} {args.kind!r} from plugin {spec.owner} ({version})")
    doc = spec.description or (spec.params.__doc__ or "").strip()
    if doc:
        print(doc)
    print()
    rows = [
        (name, type_name(field.annotation), default_text(field), field.description or "")
        for name, field in spec.params.model_fields.items()
    ]
    widths = [max(len(r[i]) for r in rows + [("parameter", "type", "default", "")]) for i in range(3)]
    print(f"{'parameter':<{widths[0]}}  {'type':<{widths[1]}}  {'default':<{widths[2]}}  description")
    for name, kind, default, description in rows:
        print(f"{name:<{widths[0]}}  {kind:<{widths[1]}}  {default:<{widths[2]}}  {description}")
    return 0
