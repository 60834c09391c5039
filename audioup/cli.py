"""The ``audioup`` console script.

Each subcommand lives in a module of :mod:`audioup.commands` that exposes
``register(subparsers, help_line)``, which adds its parser and sets ``func`` (called with
the parsed arguments, returning an exit code). Only the module of the command being run
is imported, so ``audioup --help`` and ``audioup --version`` load neither torch nor numpy;
the one-line help of every command is therefore written once, in :data:`COMMANDS`, and
handed to ``register``.

:func:`main` turns what the commands do not catch into one line on stderr and
an exit code, never a traceback: :class:`CommandError` and any ``OSError``
(read-only or full disk, a file where a folder belongs, a link loop...) as
``audioup CMD: error: PATH: problem`` (exit 1); a closed stdout (``| head``)
ends quietly with 141 (128 + SIGPIPE, as the shell reports a process that
SIGPIPE killed); Ctrl-C, also during the start-up imports, with 130.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from typing import List, Optional, Sequence

from . import __version__
from .errors import CommandError, describe_os_error, tell_launcher

# (command, module whose register() adds it, one-line help for `audioup --help`), in --help order.
COMMANDS = [
    ("layers", "audioup.commands.layers", "compare the upsampler kinds for one factor"),
    ("measure", "audioup.commands.measure", "tonal-artifact and vocoder metrics for audio files"),
    ("analyze", "audioup.commands.analyze",
     "layer and model diagnostics: overlap, checkerboard score, matrix, spectra, attribution"),
    ("train", "audioup.commands.train", "train a vocoder from a YAML recipe"),
    ("mel", "audioup.commands.mel", "write log-mel spectrograms (.npy) of audio files, for vocode"),
    ("vocode", "audioup.commands.vocode", "turn WAV files or .npy mels into audio with a trained generator"),
    ("convert", "audioup.commands.convert",
     "make a trained transposed vocoder line-free (resize-convolution)"),
    ("compare", "audioup.commands.compare", "train one vocoder per upsampler kind and write a comparison report"),
    ("demo", "audioup.commands.demo", "offline demo: every upsampler kind on a tiny vocoder, on CPU"),
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


class _Parser(argparse.ArgumentParser):
    """argparse's parser, except that a failed write of ``--help`` / ``--version`` raises
    (argparse drops the error and exits 0 with nothing printed, e.g. ``> /dev/full``)."""

    def _print_message(self, message, file=None):
        if message:
            (file or sys.stderr).write(message)


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``audioup`` parser; ``command`` (or every command, for ``"*"``) gets its full parser.

    The other commands get a placeholder with their one-line help, so building the
    parser imports only the module of the command that runs.
    """
    parser = _Parser(
        prog="audioup",
        description="Upsampling layers without tonal artifacts, artifact metrics and vocoder recipes.",
    )
    parser.add_argument("--version", action="version", version=f"audioup {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_line in COMMANDS:
        if command in (name, "*"):
            importlib.import_module(module).register(sub, help_line)
        else:
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
EXIT_INTERRUPTED = 130  # 128 + SIGINT


def main(argv: Optional[List[str]] = None) -> int:
    """Run one command; returns its exit code (see the module for the errors it turns into one line)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    name = "audioup " + (_command_of(argv) or "")
    for stream in (sys.stdout, sys.stderr):  # a file name with bytes that are not UTF-8 never raises
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        try:
            code = _run(argv)
        except SystemExit:  # argparse: --help, --version, a usage error; exits as argparse says
            sys.stdout.flush()  # ... unless stdout could not take the help (/dev/full): handled below
            raise
        sys.stdout.flush()  # a stdout that cannot be written is an error, not exit 0
        return code
    except CommandError as exc:
        _say(f"{name.rstrip()}: error: {exc}")
        tell_launcher(f"{name.rstrip()}: error: {exc}")  # torchrun's failure summary shows it last
        return 1
    except KeyboardInterrupt:
        _say(f"{name.rstrip()}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _stdout_gone(EXIT_BROKEN_PIPE)
    except OSError as exc:
        if _is_stdout_error(exc):
            _say(f"{name.rstrip()}: error: stdout: {exc.strerror or exc}")
            return _stdout_gone(1)
        _say(f"{name.rstrip()}: error: {describe_os_error(exc)}")
        return 1
    except Exception as exc:  # torch.save & co. wrap a full disk into their own errors
        message = describe_os_error(exc)
        if message is None:
            raise
        _say(f"{name.rstrip()}: error: {message}")
        return 1


def _run(argv: List[str]) -> int:
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def _say(line: str) -> None:
    """A line on stderr; a stderr that is gone too is no reason for a traceback."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _is_stdout_error(exc: OSError) -> bool:
    """An error of writing stdout itself (``> /dev/full``): no file name, and stdout refuses even an empty write."""
    if exc.filename is not None or exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
        return False
    try:
        os.write(sys.stdout.fileno(), b"")
    except (OSError, ValueError, AttributeError):
        return True
    return False


def _stdout_gone(code: int) -> int:
    """Point stdout at /dev/null, so that the interpreter's own flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
