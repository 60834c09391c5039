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

# (subcommand, module that registers it)
COMMANDS = [
    ("layers", "audioup.layers.cli"),
    ("measure", "audioup.metrics.cli"),
    ("analyze", "audioup.analysis.cli"),
    ("train", "audioup.train.cli"),
    ("vocode", "audioup.inference"),
    ("compare", "audioup.compare"),
    ("demo", "audioup.demo"),
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
    for name, module in COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # command not built yet
                continue
            raise
        mod.register(sub)
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
