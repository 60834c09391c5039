"""The ``audioup`` console script.

Each subcommand lives in a module that exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed arguments, returning
an exit code). Only the module of the command being run is imported, so
``audioup --help`` and ``audioup --version`` load neither torch nor numpy; the
one-line help of every command is listed here for that reason.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional, Sequence

from . import __version__
from .errors import CommandError, tell_launcher

# (command, module whose register() adds it, one-line help for `audioup --help`), in --help order.
COMMANDS = [
    ("layers", "audioup.commands.layers", "compare the upsampler kinds for one factor"),
    ("measure", "audioup.metrics.cli", "tonal-artifact and vocoder metrics for audio files"),
    ("analyze", "audioup.commands.analyze",
     "layer and model diagnostics: overlap, checkerboard score, matrix, spectra, attribution"),
    ("train", "audioup.train.cli", "train a vocoder from a YAML recipe"),
    ("mel", "audioup.commands.mel", "write log-mel spectrograms (.npy) of audio files, for vocode"),
    ("vocode", "audioup.commands.vocode", "turn WAV files or .npy mels into audio with a trained generator"),
    ("convert", "audioup.commands.convert",
     "convert a trained transposed vocoder to resize-convolution"),
    ("compare", "audioup.compare.cli", "train one vocoder per upsampler kind and write a comparison report"),
    ("demo", "audioup.demo", "offline demo: every upsampler kind on a tiny vocoder, on CPU"),
]

__all__ = ["COMMANDS", "CommandError", "build_parser", "main"]


def _command_of(argv: Sequence[str]) -> Optional[str]:
    """The subcommand named in ``argv`` (its first positional argument), if any."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``audioup`` parser; ``command`` (or every command, for ``"*"``) gets its full parser.

    The other commands get a placeholder with their one-line help, so building the
    parser imports only the module of the command that runs.
    """
    parser = argparse.ArgumentParser(
        prog="audioup",
        description="Upsampling layers without tonal artifacts, artifact metrics and vocoder recipes.",
    )
    parser.add_argument("--version", action="version", version=f"audioup {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_line in COMMANDS:
        if command in (name, "*"):
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"audioup {args.command}: error: {exc}", file=sys.stderr)
        tell_launcher(f"audioup {args.command}: error: {exc}")  # torchrun's summary shows it last
        return 1
    except KeyboardInterrupt:
        print(f"audioup {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
