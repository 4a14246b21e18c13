"""The ``genkit`` command line. Each subcommand lives in its own module; plugins add more through
``genkit_register_commands``. Exit codes: 0 ok, 2 bad input, 1 failure, 130 interrupted, 141 stdout closed early
(``genkit ... | head -1``: what a shell reports for a command killed by SIGPIPE, quietly)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from genkit.cli import (
    ablate,
    cp,
    data,
    describe,
    docs,
    ls,
    plugins_cmd,
    run,
    sample,
    schema,
    serve,
    validate,
)
from genkit.cli import (
    eval as eval_cmd,
)
from genkit.cpu_allocator import tune_cpu_allocator
from genkit.errors import GenkitError

if TYPE_CHECKING:
    from genkit.plugins.manager import Plugins

CORE_COMMANDS = (plugins_cmd, validate, describe, schema, ls, cp, run, sample, eval_cmd, serve, ablate, data, docs)

DESCRIPTION = """\
genkit: two-stage discrete generative models (DALL-E), assembled from plugins.

A recipe (YAML) names a component for each role (data, tokenizer, autoencoder, prior, reranker) by its
registered kind, and the stages to run. Any key can be overridden on the command line.
"""

EPILOG = """\
examples:
  genkit ls                                      built-in recipes
  genkit validate shapes/demo prior.depth=8      check a recipe with an override
  genkit run shapes/demo --out runs/demo         run every stage of a recipe
  genkit run shapes/demo autoencoder=vqvae       swap a component (that kind's defaults)
  genkit describe autoencoder dvae               every parameter of a component
  genkit plugins                                 installed plugins and their components
  genkit serve runs/demo                         a web page to sample a finished run (genkit[serve])
"""


def build_parser(plugins: Plugins | None = None) -> argparse.ArgumentParser:
    from genkit.plugins.manager import get_plugins

    plugins = plugins or get_plugins()
    parser = argparse.ArgumentParser(
        prog="genkit", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from genkit import __version__

    parser.add_argument("--version", action="version", version=f"genkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in CORE_COMMANDS:
        command = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.setup(command)
        command.set_defaults(handler=module.run)
    for name, command_spec in sorted(plugins.commands().items()):
        command = sub.add_parser(
            name,
            help=f"{command_spec.help} [plugin {command_spec.owner}]",
            description=command_spec.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if not command_spec.subcommands:
            command_spec.setup(command)
            command.set_defaults(handler=command_spec.run)
            continue
        inner = command.add_subparsers(dest=f"{name}_subcommand", metavar="SUBCOMMAND", required=True)
        for sub_name, sub_spec in sorted(command_spec.subcommands.items()):
            subcommand = inner.add_parser(
                sub_name,
                help=f"{sub_spec.help} [plugin {sub_spec.owner}]",
                description=sub_spec.description,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            sub_spec.setup(subcommand)
            subcommand.set_defaults(handler=sub_spec.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # overrides may come after options (`genkit run R --out D prior.depth=8`): argparse leaves them over
        if extra and hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra):
            args.overrides = [*args.overrides, *extra]
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if getattr(args, "handler", None) is None:
            parser.print_help()
            return 2
        tune_cpu_allocator()  # freed tensors stay in the process: no page faults at every step (see its module)
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except SystemExit:  # --help, --version, a usage error: argparse wrote to stdout and exits
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            raise SystemExit(_stdout_closed()) from None
        raise
    except GenkitError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"error: {line}" if not _has_location(line) else line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE


def _stdout_closed() -> int:
    """The reader of stdout went away (``| head -1``): no traceback, and no second error when Python flushes stdout
    at exit. Not 0: the output was not all delivered (a pipeline under ``set -o pipefail`` sees it, as for ``cat``)."""
    try:
        sys.stdout.flush()
        return BROKEN_PIPE_EXIT  # stdout still works (the broken pipe was another stream): keep what it holds
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file descriptor (captured): nothing to redirect
        pass
    return BROKEN_PIPE_EXIT


def _has_location(line: str) -> bool:
    """Recipe problems already start with their file; other errors get an ``error:`` prefix."""
    head = line.split(":", 1)[0]
    return head.endswith((".yaml", ".yml", ")")) or head.startswith("/")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
