"""The plugin manager: built-in plugins first, then the ``genkit`` entry-point group.

Environment switches (read when plugins load):

- ``GENKIT_LOAD_PLUGINS=a,b``: load only these entry-point plugins (built-ins always load). Empty = none.
- ``GENKIT_DISABLE_PLUGINS=a,b``: skip these entry-point plugins.
- ``GENKIT_STRICT_PLUGINS=1``: a plugin that fails to import or register is an error instead of a warning.

A plugin that fails is reported (name and reason, on stderr and in ``genkit plugins``) and skipped: nothing it
registered stays in the registry. Two plugins registering the same (role, kind) is always an error.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import pluggy

from genkit.errors import PluginError
from genkit.plugins import hookspecs
from genkit.plugins.registry import ComponentSpec, Registry
from genkit.plugins.specs import RoleSpec, StageSpec

#: Modules inside genkit that are plugins too (pytest-style: the core eats its own dog food).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "genkit.roles.plugin",
    "genkit.stages.plugin",
    "genkit.data.plugin",
    "genkit.attention.plugin",
)

ENTRY_POINT_GROUP = "genkit"


@dataclass
class PluginInfo:
    """One loaded plugin, as ``genkit plugins`` shows it."""

    name: str
    distribution: str
    version: str
    builtin: bool
    components: list[ComponentSpec] = field(default_factory=list)
    roles: list[RoleSpec] = field(default_factory=list)
    stages: list[StageSpec] = field(default_factory=list)


@dataclass(frozen=True)
class PluginFailure:
    name: str
    reason: str


@dataclass(frozen=True)
class Command:
    """``genkit NAME``; a group (``subcommands`` not empty) is shared by plugins that each add a subcommand."""

    name: str
    help: str
    setup: Callable[[Any], None]
    run: Callable[[Any], int | None]
    description: str
    owner: str
    subcommands: Mapping[str, Command] = field(default_factory=dict)


def _group_setup(parser: Any) -> None:
    """A group's own parser takes no arguments: its subcommands do."""


def _group_run(args: Any) -> int:
    raise PluginError("a command group runs through one of its subcommands")


class CommandRegistry:
    """What ``genkit_register_commands(cli)`` receives."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self._owner = ""

    def add_command(
        self,
        name: str,
        *,
        help: str,
        setup: Callable[[Any], None],
        run: Callable[[Any], int | None],
        description: str = "",
    ) -> None:
        if name in self.commands:
            raise PluginError(f"command {name!r} is added by both {self.commands[name].owner!r} and {self._owner!r}")
        self.commands[name] = Command(name, help, setup, run, description or help, self._owner)

    def add_subcommand(
        self,
        group: str,
        name: str,
        *,
        help: str,
        setup: Callable[[Any], None],
        run: Callable[[Any], int | None],
        description: str = "",
        group_help: str = "",
    ) -> None:
        """Add ``genkit GROUP NAME`` to a command group that several plugins share (``genkit import openai-dvae``
        from one plugin, ``genkit import vqgan`` from another). The group's help is the first ``group_help`` given,
        followed by its subcommands' names. A GROUP that is a plain command, or a NAME already in the group, is an
        error naming both plugins."""
        existing = self.commands.get(group)
        if existing is not None and not existing.subcommands:
            raise PluginError(f"command {group!r} of {existing.owner!r} is not a group; {self._owner!r} adds {name!r}")
        subcommands = dict(existing.subcommands) if existing is not None else {}
        if name in subcommands:
            raise PluginError(
                f"command {group} {name!r} is added by both {subcommands[name].owner!r} and {self._owner!r}"
            )
        subcommands[name] = Command(name, help, setup, run, description or help, self._owner)
        base = (existing.description if existing is not None else "") or group_help or group
        owners = ", ".join(sorted({command.owner for command in subcommands.values()}))
        summary = f"{base} ({', '.join(sorted(subcommands))})"
        self.commands[group] = Command(group, summary, _group_setup, _group_run, base, owners, subcommands)


class Plugins:
    """The loaded plugins: the pluggy manager, the component registry and what failed."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.strict = self.env.get("GENKIT_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}
        self.manager = pluggy.PluginManager("genkit")
        self.manager.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []
        self._commands: CommandRegistry | None = None
        self.recipe_model: Any = None  # built by genkit.recipe on first use

    # -- loading ---------------------------------------------------------------------------------------
    def load(self) -> Plugins:
        for module_name in BUILTIN_PLUGINS:
            self._add(
                module_name, functools.partial(importlib.import_module, module_name), "genkit", _version("genkit"), True
            )
        allow = _names(self.env.get("GENKIT_LOAD_PLUGINS"))
        deny = _names(self.env.get("GENKIT_DISABLE_PLUGINS")) or set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if (allow is not None and ep.name not in allow) or ep.name in deny or ep.name in self.infos:
                continue
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            dist_version = dist.version if dist is not None else "?"
            self._add(ep.name, ep.load, dist_name, dist_version, False)
        return self

    def register_plugin(self, plugin: Any, name: str, *, distribution: str = "?", version: str = "?") -> None:
        """Register an already-imported plugin object (tests, notebooks)."""
        self._add(name, lambda: plugin, distribution, version, False)
        self._commands = None
        self.recipe_model = None

    def _add(self, name: str, load: Callable[[], Any], dist: str, version: str, builtin: bool) -> None:
        try:
            plugin = load()
            self.manager.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin's import is reported, not fatal
            self._fail(name, f"failed to import: {type(exc).__name__}: {exc}")
            return
        info = PluginInfo(name, dist, version, builtin)
        roles: list[RoleSpec] = []
        stages: list[StageSpec] = []
        specs: list[ComponentSpec] = []

        def register(role: str, kind: str, *, params: Any, build: Callable[..., Any], description: str = "") -> None:
            specs.append(ComponentSpec(role, kind, params, build, name, description))

        hook = self.manager.hook
        try:
            for impl in hook.genkit_register_roles.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(
                        register=lambda spec: roles.append(replace(_checked(spec, RoleSpec, name), owner=name))
                    )
            for impl in hook.genkit_register_stages.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(
                        register=lambda spec: stages.append(replace(_checked(spec, StageSpec, name), owner=name))
                    )
            for impl in hook.genkit_register_components.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(register=register)
        except Exception as exc:  # noqa: BLE001
            self.manager.unregister(name=name)
            self._fail(name, f"failed to register: {type(exc).__name__}: {exc}")
            return
        self.registry.check_new(roles, stages)  # a name another plugin declared: always fatal, naming both
        try:
            staged = Registry(self.registry.roles)  # validates this plugin's declarations, real registry untouched
            for role in roles:
                staged.add_role(role)
            for stage in stages:
                staged.add_stage(stage)
            for spec in specs:
                staged.add(spec)
        except Exception as exc:  # noqa: BLE001
            self.manager.unregister(name=name)
            self._fail(name, f"failed to register: {type(exc).__name__}: {exc}")
            return
        # duplicates across plugins raise PluginError, always fatal
        for role in roles:
            self.registry.add_role(role)
        for stage in stages:
            self.registry.add_stage(stage)
        for spec in specs:
            self.registry.add(spec)
        info.roles, info.stages, info.components = roles, stages, specs
        self.infos[name] = info

    def _fail(self, name: str, reason: str) -> None:
        if self.strict:
            raise PluginError(f"plugin {name!r} {reason} (GENKIT_STRICT_PLUGINS is set)")
        self.failures.append(PluginFailure(name, reason))
        print(f"genkit: warning: plugin {name!r} skipped: {reason}", file=sys.stderr)

    # -- queries ---------------------------------------------------------------------------------------
    @property
    def hook(self) -> Any:
        return self.manager.hook

    def commands(self) -> dict[str, Command]:
        if self._commands is None:
            cli = CommandRegistry()
            for impl in self.manager.hook.genkit_register_commands.get_hookimpls():
                cli._owner = impl.plugin_name
                impl.function(cli=cli)
            self._commands = cli
        return self._commands.commands

    def recipe_dirs(self) -> list[Path]:
        """The recipe folders plugins contribute (``genkit_recipe_dirs``), in plugin load order."""
        found: list[Path] = []
        for impl in self.manager.hook.genkit_recipe_dirs.get_hookimpls():  # registration order
            result = cast("list[Any] | None", impl.function())  # the hook returns a list of paths, or None
            found.extend(Path(item) for item in result or [])
        return found

    def versions(self) -> dict[str, str]:
        """``{plugin name: "distribution version"}`` for every loaded plugin."""
        return {name: f"{info.distribution} {info.version}" for name, info in sorted(self.infos.items())}


def _checked(spec: Any, expected: type, plugin: str) -> Any:
    if not isinstance(spec, expected):
        raise PluginError(f"plugin {plugin!r} registered a {type(spec).__name__}, not a genkit.{expected.__name__}")
    return spec


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0+unknown"


_loaded: Plugins | None = None


def get_plugins() -> Plugins:
    """The process's plugins, loaded on first use from the current environment."""
    global _loaded
    if _loaded is None:
        _loaded = Plugins().load()
    return _loaded


def set_plugins(plugins: Plugins | None) -> None:
    """Replace the process's plugins (``None``: reload from the environment on next use). For tests and embedding."""
    global _loaded
    _loaded = plugins


def get_registry() -> Registry:
    return get_plugins().registry
