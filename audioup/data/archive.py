"""Unpacking dataset archives safely: ``.tar.bz2``, ``.tar.gz``, ``.tar.xz``, ``.tar`` and ``.zip``.

:func:`extract_archive` refuses members that would land outside the destination folder
(``../`` paths, absolute paths, links whose target leaves it, through the archive's own
links too), device and FIFO entries, and members or totals larger than a bound (checked on
the sizes the archive declares, before anything is written). It writes each member itself
rather than trusting tarfile's extraction filters, which older Pythons lack, and never
writes through a link. :func:`archive_format` names the kind from the file name.

Everything here uses the standard library (``tarfile``, ``zipfile``); only the progress bar
needs tqdm.
"""
from __future__ import annotations

import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Dict, Optional, Tuple

from ..audio.fs import atomic_write, current_umask, is_disk_full
from ..progress import progress_bar
from .download import CHUNK_SIZE

# extraction bounds (checked on the sizes an archive declares, before anything is written):
# LJSpeech's largest member is a few MB and the whole of LibriTTS's train-other-500 about 35 GB
MAX_MEMBER_BYTES = 8 << 30
MAX_TOTAL_BYTES = 128 << 30
# audio barely compresses (FLAC/OGG/WAV archives expand 1-3x); text at most ~10x; gzip bombs ~1000x
MAX_RATIO = 100.0
RATIO_FLOOR_BYTES = 256 << 20


class ArchiveError(ValueError):
    """An archive that cannot be extracted safely (unknown format, unsafe member)."""


def archive_format(path) -> str:
    """``"tar"`` or ``"zip"`` from the file name (``.tar.bz2``, ``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``)."""
    name = Path(path).name.lower()
    if name.endswith((".tar.bz2", ".tbz2", ".tar.gz", ".tgz", ".tar.xz", ".tar")):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    raise ArchiveError(f"{path}: unknown archive type (expected .tar.bz2, .tar.gz, .tar or .zip)")


def _parts(name: str) -> Tuple[str, ...]:
    """A member name's components, ``.`` and empty ones dropped (``./usr//a`` -> ``('usr', 'a')``)."""
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _safe_target(root: Path, member: str, archive) -> Path:
    """Where ``member`` would be written under ``root``; raise if that is outside ``root``."""
    pure = PurePosixPath(member.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and pure.parts[0].endswith(":")) or ".." in pure.parts:
        raise ArchiveError(f"{archive}: unsafe member {member!r} (absolute path or '..'); refusing to extract")
    parts = _parts(member)
    if not parts:
        return root
    # the last component is replaced, never followed, so only the folder is resolved
    target = (root / Path(*parts[:-1])).resolve() / parts[-1]
    if target != root and root not in target.parents:
        raise ArchiveError(f"{archive}: member {member!r} would be written outside {root}; refusing to extract")
    return target


_MAX_HOPS = 40  # as the kernel's limit on links followed in one path


class _LinkLoop(Exception):
    """Resolving a path followed more than ``_MAX_HOPS`` links."""


def _resolve_inside(links: Dict[Tuple[str, ...], str], parts: Tuple[str, ...]) -> Optional[Tuple[str, ...]]:
    """Resolve ``parts`` through the archive's own symbolic links, as the kernel would once extracted.

    ``links`` maps a link's components to its target. Returns the resolved components
    (the path need not exist: a dangling link inside is fine), or ``None`` when the path
    leaves the root (``..`` above it, or an absolute target). A loop of links raises :class:`_LinkLoop`.
    """
    done: list = []
    todo = list(parts)
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                return None
            done.pop()
            continue
        here = tuple(done) + (part,)
        if here not in links:
            done.append(part)
            continue
        hops += 1
        if hops > _MAX_HOPS:
            raise _LinkLoop()
        target = links[here].replace("\\", "/")
        if target.startswith("/") or (target.split("/")[0].endswith(":")):
            return None
        todo = target.split("/") + todo  # relative to the link's own folder: ``done`` stays
    return tuple(done)


def _items(items, archive: Path, progress: bool):
    return progress_bar(items, desc=f"extracting {archive.name}", unit="file", enabled=progress, leave=False)


def _format_size(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def extract_archive(archive, out_dir, force: bool = False, progress: bool = True,
                    max_member_bytes: int = MAX_MEMBER_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES,
                    max_ratio: float = MAX_RATIO) -> Path:
    """Unpack ``archive`` into ``out_dir`` after checking every member.

    The rule is the one of ``tarfile``'s ``data`` filter and dpkg: a symbolic link
    is kept when its target, resolved from the link's own folder (through the
    archive's other links), stays inside ``out_dir``, such as Debian's
    ``usr/share/doc/a/html -> ../b/html`` or ``-> ../../../fonts/x.ttf``; a link
    that dangles inside is fine. Absolute links, links that lead out (directly or
    through a chain), members with absolute paths or ``..`` components, hard links
    to paths outside, device and FIFO entries, and zip members that are links are
    refused before anything is written. As each member is written, its folder's
    real path (links on disk followed) is checked to be inside ``out_dir``, a file
    or link already in its place is replaced and never written through (``O_NOFOLLOW``,
    ``O_EXCL``), and the links made are checked again against the real tree at the end.

    Sizes are known before writing (a sparse member counts with its full size):
    a member over ``max_member_bytes``, a total over ``max_total_bytes``, over
    ``max_ratio`` times the archive's own size (a "bomb"; never below 256 MiB) or
    over the free disk space is refused up front. A member that fails while being
    written (a full disk, a corrupt stream) is removed. Files never keep setuid,
    setgid or sticky bits; an mtime the system cannot represent is left as the
    write time. A marker file ``out_dir/.extracted-ARCHIVE`` is written last, so an
    interrupted extraction is redone and a finished one makes a second call a no-op
    (unless ``force``). This does not rely on tarfile's own filters (missing on
    Python < 3.10.12 / 3.11.4). A compressed tar is read twice (check, then
    extract): about two minutes for LJSpeech's 2.6 GB.

    Returns:
        ``out_dir``.

    Raises:
        ArchiveError: unknown type, unsafe or oversized member, or a corrupt archive.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    marker = out_dir / f".extracted-{archive.name}"
    if marker.exists() and not force:
        return out_dir
    kind = archive_format(archive)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(f"{out_dir}: cannot create the extraction folder ({exc.strerror or exc})") from None
    root = out_dir.resolve()
    limits = _Limits(archive, root, max_member_bytes, max_total_bytes, max_ratio)
    try:
        if kind == "tar":
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                _check_tar_members(root, members, archive, limits)
                made = [_extract_tar_member(tar, m, root, archive) for m in _items(members, archive, progress)]
                _check_links_on_disk(root, [p for p in made if p is not None], archive)
        else:
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    _safe_target(root, info.filename, archive)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise ArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; "
                                           "refusing to extract")
                limits.check((info.filename, info.file_size) for info in infos if not info.is_dir())
                for info in _items(infos, archive, progress):
                    _extract_zip_member(zf, info, root, archive)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ArchiveError(f"{archive}: corrupt or truncated archive ({exc})") from None
    except OSError as exc:
        why = "disk full" if is_disk_full(exc) else (exc.strerror or str(exc))
        where = f" ({exc.filename})" if exc.filename else ""
        raise ArchiveError(f"{archive}: cannot extract into {root}{where}: {why}") from None
    atomic_write(marker, "ok\n")
    return out_dir


class _Limits:
    """The size bounds of one extraction, checked on the sizes the archive declares."""

    def __init__(self, archive: Path, root: Path, max_member: int, max_total: int, max_ratio: float):
        self.archive, self.root = archive, root
        self.max_member = max_member
        self.max_total = max_total
        try:
            self.archive_size = archive.stat().st_size
        except OSError:
            self.archive_size = 0
        self.max_ratio = max_ratio

    def check(self, sizes) -> int:
        total = 0
        for name, size in sizes:
            if size > self.max_member:
                raise ArchiveError(f"{self.archive}: member {name!r} would be {_format_size(size)}, more than the "
                                   f"limit of {_format_size(self.max_member)} per member; refusing to extract")
            total += size
        if total > self.max_total:
            raise ArchiveError(f"{self.archive}: its members add up to {_format_size(total)}, more than the "
                               f"limit of {_format_size(self.max_total)}; refusing to extract")
        by_ratio = max(RATIO_FLOOR_BYTES, int(self.max_ratio * self.archive_size))
        if total > by_ratio:
            raise ArchiveError(f"{self.archive}: its members add up to {_format_size(total)}, "
                               f"{total / max(self.archive_size, 1):.0f} times the archive's own size (more than "
                               f"{self.max_ratio:g}x: an archive bomb?); refusing to extract")
        free = shutil.disk_usage(self.root).free
        if total > free:
            raise ArchiveError(f"{self.archive}: needs {_format_size(total)} but {self.root} has only "
                               f"{_format_size(free)} free; nothing was extracted")
        return total


def _check_tar_members(root: Path, members, archive, limits: _Limits) -> None:
    """Refuse, before anything is written, members that are not plain files, folders or safe links.

    Every symbolic link and every member's folder is resolved through the archive's
    own links (:func:`_resolve_inside`), so a chain such as ``x -> .``, ``y -> x/..`` is
    refused whatever order the members come in. Links already on disk are checked
    against the real tree as each member is written (:func:`_extract_tar_member`).
    """
    final: Dict[Tuple[str, ...], tarfile.TarInfo] = {}
    for m in members:
        _safe_target(root, m.name, archive)
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            raise ArchiveError(f"{archive}: member {m.name!r} is a device, FIFO or other special file; "
                               "refusing to extract")
        final[_parts(m.name)] = m  # a later member of the same name replaces an earlier one
    links = {parts: m.linkname for parts, m in final.items() if m.issym()}
    sizes = []
    for m in members:
        parts = _parts(m.name)
        try:
            if m.issym():
                if not m.linkname or _resolve_inside(links, parts) is None:
                    raise ArchiveError(
                        f"{archive}: link {m.name!r} -> {m.linkname!r} points outside {root} (absolute, or "
                        "'..' above the archive's top, directly or through other links); refusing to extract")
            elif parts and _resolve_inside(links, parts[:-1]) is None:
                raise ArchiveError(f"{archive}: member {m.name!r} would be written outside {root} through "
                                   "a link of the archive; refusing to extract")
            if m.islnk():
                source = _resolve_inside(links, _parts(m.linkname))
                if source is None or not _parts(m.linkname) or ".." in PurePosixPath(m.linkname).parts:
                    raise ArchiveError(f"{archive}: hard link {m.name!r} -> {m.linkname!r} points outside "
                                       f"{root}; refusing to extract")
                target = final.get(source)
                sizes.append((m.name, target.size if target is not None and target.isfile() else 0))
        except _LinkLoop:
            raise ArchiveError(f"{archive}: member {m.name!r} goes through a loop of symbolic links; "
                               "refusing to extract") from None
        if m.isfile():
            sizes.append((m.name, m.size))  # a sparse member's size is its full, expanded size
    limits.check(sizes)


def _clear_place(target: Path, name: str, archive) -> None:
    """Remove a file or link where a member goes (never written through); refuse to replace a folder."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        raise ArchiveError(f"{archive}: member {name!r} would replace the folder {target}; refusing")


def _write_file(src, target: Path) -> None:
    """Copy the open member ``src`` into a new file ``target`` (never through a link); remove it on failure."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK_SIZE)
    except BaseException:  # a full disk, a corrupt stream, Ctrl-C: no partial member stays
        target.unlink(missing_ok=True)
        raise


def _member_place(name: str, is_dir: bool, root: Path, archive) -> Optional[Path]:
    """Where member ``name`` goes under ``root``, its folders made and the place cleared: the path
    to write a file or link to, or ``None`` when nothing is left to do (an empty name, a folder)."""
    parts = _parts(name)
    if not parts:
        return None
    target = root.joinpath(*parts)
    _make_folders(root, target.parent, name, archive)
    if is_dir:
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
        _inside(root, target, name, archive)
        return None
    _clear_place(target, name, archive)
    return target


def _extract_tar_member(tar: tarfile.TarFile, m: tarfile.TarInfo, root: Path, archive) -> Optional[Path]:
    """Write one checked member without tarfile's own extraction (no ``filter`` needed).

    Files get the umask's mode plus the execute bits they had (never setuid, setgid
    or sticky bits, never the archive's owner); an existing file or link in the way is
    replaced, never written through. Returns the path of a link made, else ``None``.
    """
    target = _member_place(m.name, m.isdir(), root, archive)
    if target is None:
        return None
    if m.issym():
        os.symlink(m.linkname, target)
        return target
    if m.islnk():
        source = root.joinpath(*_parts(m.linkname))
        _inside(root, source, m.name, archive)
        if not source.is_file():
            raise ArchiveError(f"{archive}: hard link {m.name!r} -> {m.linkname!r}: no such file extracted")
        _write_file(open(source, "rb"), target)
    else:
        _write_file(tar.extractfile(m), target)
    if m.mode & 0o111:  # keep "executable", nothing else: the umask decides the rest
        os.chmod(target, 0o777 & ~current_umask())
    _set_mtime(target, m.mtime)
    return None


def _set_mtime(target: Path, mtime) -> None:
    try:
        os.utime(target, (mtime, mtime))
    except (OverflowError, ValueError, OSError):
        pass  # an mtime out of the system's range (2**80): the file keeps the time it was written


def _extract_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, archive) -> None:
    target = _member_place(info.filename, info.is_dir(), root, archive)
    if target is None:
        return
    _write_file(zf.open(info), target)
    if (info.external_attr >> 16) & 0o111:
        os.chmod(target, 0o777 & ~current_umask())


def _check_links_on_disk(root: Path, links, archive) -> None:
    """After extraction, every link made must resolve inside ``root`` on the real tree; else removed, refused."""
    bad = [(p, os.readlink(p)) for p in links
           if p.is_symlink() and not _is_inside(root, Path(os.path.realpath(p)))]
    for p, _ in bad:
        p.unlink()
    if bad:
        raise ArchiveError(f"{archive}: link {bad[0][0]} -> {bad[0][1]!r} resolves outside {root} on disk "
                           "(through links that were there before); removed it, refusing to extract")


def _is_inside(root: Path, real: Path) -> bool:
    return real == root or root in real.parents


def _make_folders(root: Path, folder: Path, name: str, archive) -> None:
    """Create ``folder`` under ``root``, checking against the real tree that it stays inside."""
    _inside(root, folder, name, archive)
    folder.mkdir(parents=True, exist_ok=True)
    _inside(root, folder, name, archive)


def _inside(root: Path, path: Path, name: str, archive) -> None:
    real = Path(os.path.realpath(path))
    if not _is_inside(root, real):
        raise ArchiveError(f"{archive}: member {name!r} would be written outside {root} "
                           f"(through a link, to {real}); refusing to extract")
