"""``genkit plugins``: the loaded plugins, their distributions and versions, and what each registers."""

from __future__ import annotations

import argparse
import json

from genkit.plugins.manager import get_plugins

NAME = "plugins"
HELP = "list installed plugins and the components they register"
DESCRIPTION = """\
List every loaded plugin (built-in first, then the `genkit` entry-point group) with its distribution, version
and the components it registers as role:kind, then the plugins that failed to load and why.

Environment: GENKIT_LOAD_PLUGINS=a,b (only these), GENKIT_DISABLE_PLUGINS=a,b, GENKIT_STRICT_PLUGINS=1.

example:
  genkit plugins --json | jq '.plugins[].name'
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    plugins = get_plugins()
    rows = [
        {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "builtin": info.builtin,
            "components": [f"{spec.role}:{spec.kind}" for spec in info.components],
            "commands": sorted(name for name, cmd in plugins.commands().items() if cmd.owner == info.name),
        }
        for info in plugins.infos.values()
    ]
    failures = [{"name": f.name, "reason": f.reason} for f in plugins.failures]
    if args.json:
        print(json.dumps({"plugins": rows, "failed": failures}, indent=2))
        return 0
    width = max([len(r["name"]) for r in rows] + [6])
    dist_width = max([len(f"{r['distribution']} {r['version']}") for r in rows] + [12])
    print(f"{'plugin':<{width}}  {'distribution':<{dist_width}}  components")
    for row in rows:
        extra = row["components"] + [f"command:{c}" for c in row["commands"]]
        dist = f"{row['distribution']} {row['version']}"
        print(f"{row['name']:<{width}}  {dist:<{dist_width}}  {', '.join(extra) or '-'}")
    for failure in failures:
        print(f"failed: {failure['name']}: {failure['reason']}")
    return 0
