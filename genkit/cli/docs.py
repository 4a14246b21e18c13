"""``genkit docs``: write the reference pages (every role, kind and parameter) from the registry, and refresh the
generated parameter section of each plugin page."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "docs"
HELP = (
    "write reference pages (every role, kind and parameter) and refresh the plugin pages' parameter sections, "
    "generated from the installed plugins"
)
DESCRIPTION = """\
Write one Markdown page per role (its contract and every registered kind with each parameter's type, default
and description) and one for the stage settings. genkit's own docs/reference/ is made this way.

Also refresh the plugin pages: in PLUGIN_PAGES/<name>.md, where <name> is a loaded plugin's name (its entry
point, e.g. dvae.md), the "## Parameters" section between the markers
  <!-- BEGIN generated parameters: genkit docs --> ... <!-- END generated parameters -->
is rewritten with the parameter table of every role/kind the plugin registers. A page without the markers gets
the section once, before its first "## " heading (or at the end). The rest of the page is never touched, and
pages of plugins that are not installed are left alone.

example:
  genkit docs --out docs/reference --plugin-pages docs/plugins
"""


def setup(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument(
        "--out", type=Path, default=Path("docs/reference"), help="output folder (default docs/reference)"
    )
    parser.add_argument(
        "--plugin-pages",
        type=Path,
        default=Path("docs/plugins"),
        help="folder of plugin pages whose parameter sections are refreshed (default docs/plugins; "
        "skipped when missing)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the reference pages and refresh the plugin pages, printing each file written."""
    from genkit.docgen import write_plugin_pages, write_reference

    for path in write_reference(args.out):
        print(f"wrote {path}")
    for path in write_plugin_pages(args.plugin_pages):
        print(f"updated {path}")
    return 0
