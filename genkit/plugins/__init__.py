"""The plugin system: hookspecs (the contract of every hook), the plugin manager (built-ins, entry points, env
switches), the registries of roles, stages and components, and building a component from its params.

Core code and tests import the manager from here: ``from genkit.plugins import get_plugins``.
"""

from genkit.plugins.manager import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    Command,
    CommandRegistry,
    PluginFailure,
    PluginInfo,
    Plugins,
    get_plugins,
    get_registry,
    set_plugins,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "Command",
    "CommandRegistry",
    "ENTRY_POINT_GROUP",
    "PluginFailure",
    "PluginInfo",
    "Plugins",
    "get_plugins",
    "get_registry",
    "set_plugins",
]
