"""The ``audioup`` console script.

Each subcommand lives beside the code it drives and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed arguments, returning
an exit code). Modules are imported when the parser is built; heavy imports stay
inside the command functions.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from . import __version__

# Modules whose register() adds a subcommand, in --help order.
COMMANDS = [
    "audioup.layers.cli",     # layers
    "audioup.metrics.cli",    # measure
    "audioup.analysis.cli",   # analyze
    "audioup.train.cli",      # train
    "audioup.inference",      # vocode
    "audioup.convert",        # convert
    "audioup.compare",        # compare
    "audioup.demo",           # demo
]


class CommandError(Exception):
    """An error to print on stderr (without a traceback) before exiting non-zero."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audioup",
        description="Upsampling layers without tonal artifacts, artifact metrics and vocoder recipes.",
    )
    parser.add_argument("--version", action="version", version=f"audioup {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"audioup {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"audioup {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
