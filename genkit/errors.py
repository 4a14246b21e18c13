"""Errors that reach the user as one line each.

Every error genkit raises on bad input is a :class:`GenkitError`. The CLI prints ``str(error)`` (no traceback)
and exits with ``error.exit_code``: 2 for bad input (recipe, override, file), 1 for a failure while running.
"""

from __future__ import annotations


class GenkitError(Exception):
    """Base class. ``exit_code`` 2 = the user's input is wrong, 1 = something failed while working."""

    exit_code = 1


class InputError(GenkitError):
    """Bad input from the user: a recipe, an override, a file, an argument."""

    exit_code = 2


class RecipeError(InputError):
    """A recipe (file plus overrides) that does not validate. Holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PluginError(GenkitError):
    """A plugin that cannot be loaded or that registers something invalid (strict mode, duplicates)."""

    exit_code = 2


class UnknownComponentError(InputError):
    """A (role, kind) that no loaded plugin registers."""


class ExportError(InputError):
    """An export directory or checkpoint that is missing, truncated or does not match its config."""
