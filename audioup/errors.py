"""Errors shared by the commands (a leaf module: imports nothing from audioup).

Every subcommand raises :class:`CommandError` for a problem the user can fix;
:func:`audioup.cli.main` prints it on stderr, without a traceback, and exits 1.
"""


class CommandError(Exception):
    """An error to print on stderr (without a traceback) before exiting non-zero."""


def tell_launcher(message: str) -> None:
    """Under torchrun, hand ``message`` to the launcher for its failure summary.

    torchrun ends a failed job with a box naming the rank that failed; its ``traceback``
    line is read from the file named by ``TORCHELASTIC_ERROR_FILE`` (``<N/A>`` without
    one), and the rank's own stderr is far above, under the launcher's traceback. Writing
    the plain message there puts ``audioup COMMAND: error: ...`` at the end of the output.
    Does nothing outside torchrun; a file that cannot be written is left alone.
    """
    import json
    import os
    import time

    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    try:
        with open(path, "w") as handle:
            json.dump({"message": message, "timestamp": int(time.time())}, handle)
    except OSError:
        pass
