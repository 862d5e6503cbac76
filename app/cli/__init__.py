"""`studio`: the command line of GenéLive Studio.

One module per area defines its subcommands beside their handlers: charts, training (of the
chart models), style, images, export, batch, and serve (`studio app`); flags shared by several
live in options.py. Importing any of them loads argparse and the light option types only: a
handler imports the library when it runs, so `studio --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from app.cli import batch, charts, export, images, serve, style, training
from app.runtime import configure_logging


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (what is wrong, where to read more) and exit 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="studio",
        description="GenéLive Studio: charts from songs, style transfer, images from text.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log more detail (chart: each stage's time)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in (serve, charts, training, style, images, export, batch):
        area.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    parser.set_defaults(command_line="studio " + shlex.join(argv))
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        result = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        from app.errors import USER_ERRORS, for_cli

        if not isinstance(e, USER_ERRORS):
            raise
        print(f"error: {for_cli(e)}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0
