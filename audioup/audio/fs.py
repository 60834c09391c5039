"""Writing files so that nothing half-written ever sits under the final name.

:func:`atomic_write` is the one way audioup writes an output file (WAVs,
checkpoints, JSON/Markdown reports, filelists, figures through
:func:`save_figure`): the content goes to a
temporary file in the destination folder, which is then renamed over the
destination. An interrupted write (a kill, a full disk) leaves the previous
file, if any, untouched and no temporary file behind (except after SIGKILL:
:func:`remove_stale_temporaries` cleans those up). The new file gets the mode
an ordinary ``open(path, "w")`` would give it (``0o666`` less the umask).
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, List, Union

TMP_SUFFIX = ".tmp"

Content = Union[str, bytes, Callable[[IO], None]]


def atomic_write(path, content: Content, *, text: bool = None, encoding: str = "utf-8",
                 errors: str = "strict", fsync: bool = False) -> Path:
    """Write ``content`` to ``path`` atomically (temporary file + rename); returns ``path``.

    Args:
        path: destination; its folder is created.
        content: ``str`` (written as text), ``bytes``, or a function that writes
            into the open file object it is given (e.g. ``lambda f: torch.save(obj, f)``).
        text: open the file in text mode for a function ``content`` (default: binary).
        encoding, errors: of ``str`` content / text mode (``errors="surrogateescape"``
            writes file names that are not valid UTF-8 back as they were).
        fsync: flush the file and the rename to disk (checkpoints).

    Raises:
        OSError: as from ``open``/``write`` (``errno.ENOSPC`` on a full disk); the
            destination is unchanged and the temporary file removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is None:
        text = isinstance(content, str)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": encoding, "errors": errors, "newline": ""} if text else {})) as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_folder(path.parent)
    return path


def save_figure(fig, path, **savefig_kwargs) -> Path:
    """``fig.savefig(path, ...)`` through :func:`atomic_write`; returns the path written.

    The format comes from the suffix as in matplotlib: a name without one gets the
    figure's default format appended (``spectra`` -> ``spectra.png``).
    """
    path = Path(path)
    fmt = path.suffix[1:]
    if not fmt:
        fmt = fig.canvas.get_default_filetype()
        path = path.with_name(f"{path.name.rstrip('.')}.{fmt}")
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **savefig_kwargs))


def remove_stale_temporaries(folder, pattern: str = "*") -> List[Path]:
    """Delete temporary files :func:`atomic_write` left in ``folder`` when a process was killed.

    Only names :func:`atomic_write` makes (``.NAME.XXXX.tmp``) matching ``.{pattern}.tmp``
    are removed; call this only while no other process writes into ``folder``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.glob(f".{pattern}{TMP_SUFFIX}"):
        if p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, means "no space left" (or quota).

    Writers such as ``torch.save`` turn the ``OSError`` into their own error
    ("unexpected pos ..."); the original stays in ``__context__``.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def current_umask() -> int:
    """The process umask (reading it means setting it: it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
