"""``genkit plugins``: the loaded plugins, their distributions and versions, and what each registers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from genkit.accelerators import library_lines, library_report
from genkit.plugins.manager import Plugins, get_plugins

NAME = "plugins"
HELP = "list the roles, the stages and the installed plugins with what each registers"
DESCRIPTION = """\
List the declared roles (with their recipe section), the pipeline's stages in the order they run, then every
loaded plugin (built-in first, then the `genkit` entry-point group) with its distribution, version and what it
registers (role:NAME, stage:NAME, role:kind components, command:NAME, hooks), then the plugins that failed to
load and why, then the accelerator libraries: torch (and its CUDA), xformers (whether its kernels were built for
the installed torch), bitsandbytes, and the torch / xformers pair the gpu extra pins.

Environment: GENKIT_LOAD_PLUGINS=a,b (only these), GENKIT_DISABLE_PLUGINS=a,b, GENKIT_STRICT_PLUGINS=1.

example:
  genkit plugins --json | jq '.plugins[].name'
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    plugins = get_plugins()
    # JSON rows (--json prints them as they are).
    rows: list[dict[str, Any]] = [
        {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "builtin": info.builtin,
            "roles": [role.name for role in info.roles],
            "stages": [stage.name for stage in info.stages],
            "components": [f"{spec.role}:{spec.kind}" for spec in info.components],
            "hooks": _observer_hooks(plugins, info.name),
            "commands": sorted(
                [name for name, cmd in plugins.commands().items() if cmd.owner == info.name]
                + [
                    f"{name} {sub_name}"
                    for name, cmd in plugins.commands().items()
                    for sub_name, sub_cmd in cmd.subcommands.items()
                    if sub_cmd.owner == info.name
                ]
            ),
        }
        for info in plugins.infos.values()
    ]
    failures: list[dict[str, Any]] = [{"name": f.name, "reason": f.reason} for f in plugins.failures]
    registry = plugins.registry
    roles: list[dict[str, Any]] = [
        {
            "name": r.name,
            "section": r.section,
            "protocol": f"genkit.{r.protocol.__name__}",
            "owner": r.owner,
            "kinds": registry.kinds(r.name),
            "description": r.description,
        }
        for r in registry.roles.values()
    ]
    stages: list[dict[str, Any]] = [
        {
            "name": s.name,
            "section": f"stages.{s.name}" if s.settings is not None else None,
            "trains": s.trains,
            "needs": list(s.needs),
            "owner": s.owner,
            "description": s.description,
        }
        for s in registry.stages.values()
    ]
    if args.json:
        libraries = library_report()
        print(
            json.dumps(
                {"roles": roles, "stages": stages, "plugins": rows, "failed": failures, "libraries": libraries},
                indent=2,
            )
        )
        return 0
    print("roles (recipe section: kinds)")
    for role in roles:
        print(f"  {role['name']:<12} {role['section'] + ':':<13} {', '.join(role['kinds']) or '(no kind installed)'}")
    print("stages, in the order they run")
    for stage in stages:
        when = f"stages.{stage['name']}" if stage["section"] else "implied (when a later stage needs it)"
        trains = f"trains {stage['trains']}" if stage["trains"] else "trains nothing"
        needs = f"; needs {', '.join(stage['needs'])}" if stage["needs"] else ""
        print(f"  {stage['name']:<12} {when}; {trains}{needs}")
    print()
    width = max([len(r["name"]) for r in rows] + [6])
    dist_width = max([len(f"{r['distribution']} {r['version']}") for r in rows] + [12])
    print(f"{'plugin':<{width}}  {'distribution':<{dist_width}}  registers")
    for row in rows:
        extra = (
            [f"role:{r}" for r in row["roles"]]
            + [f"stage:{s}" for s in row["stages"]]
            + row["components"]
            + [f"command:{c}" for c in row["commands"]]
            + [f"hook:{h}" for h in row["hooks"]]
        )
        dist = f"{row['distribution']} {row['version']}"
        print(f"{row['name']:<{width}}  {dist:<{dist_width}}  {', '.join(extra) or '-'}")
    for failure in failures:
        print(f"failed: {failure['name']}: {failure['reason']}")
    print()
    print("\n".join(library_lines()))
    return 0


#: Hooks shown per plugin besides its registrations: the ones that change what genkit does.
_SHOWN_HOOKS = ("genkit_select_attention", "genkit_select_judge", "genkit_recipe_dirs")


def _observer_hooks(plugins: Plugins, name: str) -> list[str]:
    """The hooks among :data:`_SHOWN_HOOKS` that plugin ``name`` implements, without their ``genkit_`` prefix."""
    hook = plugins.hook
    return [
        spec.removeprefix("genkit_")
        for spec in _SHOWN_HOOKS
        if any(impl.plugin_name == name for impl in getattr(hook, spec).get_hookimpls())
    ]
