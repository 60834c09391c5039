"""Errors shared by the commands (a leaf module: imports nothing from audioup).

Every subcommand raises :class:`CommandError` for a problem the user can fix;
:func:`audioup.cli.main` prints it on stderr, without a traceback, and exits 1.
"""


class CommandError(Exception):
    """An error to print on stderr (without a traceback) before exiting non-zero."""
