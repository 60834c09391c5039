"""Errors shared by the commands (a leaf module: imports nothing from audioup).

Every subcommand raises :class:`CommandError` for a problem the user can fix;
:func:`audioup.cli.main` prints it on stderr, without a traceback, and exits 1.
It prints an ``OSError`` the same way, through :func:`describe_os_error`.
"""
import errno
import os
from typing import Optional

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


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


def describe_os_error(exc: BaseException) -> Optional[str]:
    """``"PATH: problem"`` for an ``OSError``, or for another error raised from a full disk
    (``torch.save`` raises its own on ``ENOSPC``); ``None`` for anything else.

    >>> describe_os_error(OSError(errno.EROFS, os.strerror(errno.EROFS), "out/a.json"))
    'out/a.json: Read-only file system'
    >>> describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "o.npy"))
    'o.npy: disk full while writing (No space left on device)'
    """
    top, seen, found = exc, set(), None
    while exc is not None and id(exc) not in seen:  # the OSError itself, or the one it came from
        seen.add(id(exc))
        if isinstance(exc, OSError) and (found is None or (exc.filename and not found.filename)):
            found = exc
        exc = exc.__cause__ or exc.__context__
    if found is None or (not isinstance(top, OSError) and found.errno not in DISK_FULL):
        return None
    problem = found.strerror or str(found) or type(found).__name__
    if found.errno in DISK_FULL:
        problem = f"disk full while writing ({problem})"
    if found.filename is None:
        return problem
    names = [os.fsencode(os.fspath(n)).decode("utf-8", "backslashreplace")
             for n in (found.filename, found.filename2) if n is not None]
    return f"{' -> '.join(names)}: {problem}"
