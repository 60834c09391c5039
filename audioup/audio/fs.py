"""Writing files so that nothing half-written ever sits under the final name.

:func:`atomic_write` is the one way audioup writes an output file (WAVs,
checkpoints, JSON/Markdown reports, filelists, figures through
:func:`save_figure`): the content goes to a
temporary file in the destination folder, which is then renamed over the
destination. An interrupted write (a kill, a full disk) leaves the previous
file, if any, untouched and no temporary file behind (except after SIGKILL:
:func:`remove_stale_temporaries` cleans those up). The new file gets the mode
an ordinary ``open(path, "w")`` would give it (``0o666`` less the umask).

Only a regular file (or nothing) is ever replaced. A destination that is a
stream is written into, in place, as a shell's ``>`` would: a character device
(``/dev/null``), a FIFO, or this process's own stdout/stderr (``/dev/stdout``,
whatever it points to; a FIFO waits for its reader, as with ``>``). Anything
else is refused with an ``OSError`` naming it
(:func:`stream_destination`): a folder, a block device, a socket, a symbolic
link to a file or folder (never written through), a dangling link, a link loop.
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Callable, List, Optional, Union

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
            destination is unchanged and the temporary file removed. Also for a
            destination that is neither a regular file nor a stream (see the module).
    """
    path = Path(path)
    if text is None:
        text = isinstance(content, str)
    mode = "w" if text else "wb"
    text_kwargs = {"encoding": encoding, "errors": errors, "newline": ""} if text else {}
    fd = _open_stream(path)
    if fd is not None:  # written into, never replaced; a stream has no atomicity to give
        try:
            with os.fdopen(fd, mode, **text_kwargs) as f:
                content(f) if callable(content) else f.write(content)
        except OSError as exc:
            if exc.filename is None:
                raise _named(exc, path) from exc
            raise
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:  # name the destination, not a temporary name the user never gave
        raise _named(exc, path) from exc
    try:
        with os.fdopen(fd, mode, **text_kwargs) as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it private; give it the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # write() names no file: name it
            raise _named(exc, path) from exc
        raise
    if fsync:
        _fsync_folder(path.parent)
    return path


def file_in_the_way(folder) -> Optional[Path]:
    """``folder`` itself or the nearest existing folder above it when that is not a folder (else ``None``).

    >>> file_in_the_way(__file__ + "/sub") == Path(__file__)
    True
    """
    for p in (Path(folder), *Path(folder).parents):
        if os.path.lexists(p):
            return None if p.is_dir() else p
    return None


def probe_folder(folder) -> Path:
    """Make ``folder`` (and its parents) and check that a file can be created in it; returns it.

    Raises the ``OSError`` that writing there would meet, before any work is done:
    ``FileExistsError`` / ``NotADirectoryError`` (a file where a folder belongs),
    ``EROFS`` (read-only), ``EACCES``, ``ENOSPC`` (no inode left), ``ELOOP``.
    The probe file (``.audioup-probe.XXXX.tmp``) is removed at once.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".audioup-probe.", suffix=TMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise _named(exc, folder) from exc
    os.close(fd)
    os.unlink(tmp)
    return folder


def stream_destination(path) -> bool:
    """Whether ``path`` is a stream that output is written into (see the module) or a file to replace.

    Returns:
        ``True`` for a character device, a FIFO or this process's stdout/stderr
        (directly or through symbolic links); ``False`` for a regular file or nothing.

    Raises:
        OSError: (with ``filename``) for any other destination: a folder, a block
            device, a socket, a symbolic link to a file or folder, a dangling link,
            a link loop (``ELOOP``), or a path below a file (``ENOTDIR``).
    """
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISREG(st.st_mode):
        return False
    link = stat.S_ISLNK(st.st_mode)
    if link:
        try:
            st = os.stat(path)  # ELOOP for a link loop
        except FileNotFoundError:
            raise OSError(errno.EEXIST, f"is a dangling symbolic link (to {os.readlink(path)}); "
                                        "not replaced, not written through", path) from None
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or _std_fd(st) is not None:
        return True
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file" +
                                (" (through a symbolic link)" if link else ""), path)
    what = ("a symbolic link to a regular file" if link and stat.S_ISREG(st.st_mode) else
            "a block device" if stat.S_ISBLK(st.st_mode) else
            "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
    raise OSError(errno.EEXIST, f"is {what}; not replaced, not written through"
                                + (" (name the file itself)" if "link" in what else ""), path)


def _named(exc: OSError, path) -> OSError:
    """``exc`` again, naming ``path`` (what ``write()`` raises names no file, ``mkstemp`` a temporary one)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), os.fspath(path))


def _std_fd(st) -> Optional[int]:
    """1 or 2 when ``st`` is the file this process's stdout / stderr writes to, else ``None``."""
    for fd in (1, 2):
        try:
            if os.path.samestat(st, os.fstat(fd)):
                return fd
        except OSError:
            continue
    return None


def _open_stream(path: Path):
    """A new descriptor open for writing into the stream ``path`` names, or ``None`` for a file to replace."""
    if not stream_destination(path):
        return None
    fd = _std_fd(os.stat(path))
    if fd is not None:  # our own stdout/stderr: its descriptor, so that output keeps its order
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        return os.dup(fd)
    return os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))  # no O_CREAT, no O_TRUNC: into it


def display_path(path) -> str:
    """``path`` as text that prints on any stdout, on one line.

    Bytes that are not UTF-8 show as ``\\xff``, control characters (a newline in a
    name) as ``\\n`` / ``\\x1b``:

    >>> display_path(os.fsdecode(b"bad\\xff\\xfe\\n.wav"))
    'bad\\\\xff\\\\xfe\\\\n.wav'
    """
    text = os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
                   for c in text)


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
