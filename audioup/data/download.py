"""Downloading and unpacking dataset archives: resume, checksums, safe extraction.

:func:`download` fetches one URL into a file. Bytes arrive in ``FILE.part``;
an interrupted transfer leaves that file behind and the next call asks the
server for the rest with an HTTP ``Range`` header. Only a complete file whose
checksum matches is renamed to its final name, so a file under the final name
is always a verified one. :func:`extract_archive` unpacks ``.tar.bz2``,
``.tar.gz``, ``.tar.xz``, ``.tar`` and ``.zip`` archives and refuses members that
would land outside the destination folder (``../`` paths, absolute paths, links
whose target leaves it) or that are larger than a bound, writing each member
itself rather than trusting tarfile's extraction filters, which older Pythons lack.

Everything here uses the standard library (``urllib``, ``tarfile``,
``zipfile``); only the progress bar needs tqdm.
"""
from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import shutil
import socket
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Dict, Optional, Tuple

from ..audio.fs import atomic_write, current_umask, is_disk_full
from ..progress import progress_bar

CHUNK_SIZE = 1 << 20
_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}
# extraction bounds (checked on the sizes an archive declares, before anything is written):
# LJSpeech's largest member is a few MB and the whole of LibriTTS's train-other-500 about 35 GB
MAX_MEMBER_BYTES = 8 << 30
MAX_TOTAL_BYTES = 128 << 30
# audio barely compresses (FLAC/OGG/WAV archives expand 1-3x); text at most ~10x; gzip bombs ~1000x
MAX_RATIO = 100.0
RATIO_FLOOR_BYTES = 256 << 20


class DownloadError(RuntimeError):
    """A download that could not be completed; the message says why and what to do."""


class ChecksumError(DownloadError):
    """A downloaded file whose checksum is not the expected one."""


class ArchiveError(ValueError):
    """An archive that cannot be extracted safely (unknown format, unsafe member)."""


def parse_checksum(checksum: str) -> Tuple[str, str]:
    """Split ``"sha256:HEX"`` / ``"md5:HEX"`` (or bare hex) into ``(algorithm, hex)``.

    Bare hex is read as md5, sha1 or sha256 from its length (32, 40, 64).

    >>> parse_checksum("md5:" + "0" * 32)
    ('md5', '00000000000000000000000000000000')
    """
    text = checksum.strip().lower()
    if ":" in text:
        algo, digest = text.split(":", 1)
    else:
        algo, digest = _HASH_BY_LENGTH.get(len(text), ""), text
    if algo not in hashlib.algorithms_available or not digest or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"bad checksum {checksum!r}: expected 'sha256:HEX', 'md5:HEX' or bare md5/sha1/sha256 hex")
    if algo in ("md5", "sha1", "sha256") and len(digest) != hashlib.new(algo).digest_size * 2:
        raise ValueError(f"bad checksum {checksum!r}: a {algo} digest has {hashlib.new(algo).digest_size * 2} hex digits")
    return algo, digest


def file_checksum(path, algorithm: str = "sha256", chunk_size: int = CHUNK_SIZE) -> str:
    """Hex digest of a file, read in chunks (memory stays small for 10 GB archives)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(path, checksum: Optional[str]) -> bool:
    """True when ``checksum`` is ``None`` or matches the file."""
    if checksum is None:
        return True
    algo, digest = parse_checksum(checksum)
    return file_checksum(path, algo) == digest


def download(
    url: str,
    dest,
    checksum: Optional[str] = None,
    resume: bool = True,
    retries: int = 2,
    timeout: float = 30.0,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial transfer.

    Args:
        url: http(s) or file URL.
        dest: final file path; its folder is created.
        checksum: ``"sha256:HEX"``, ``"md5:HEX"`` or bare hex; ``None`` skips
            verification (say so to the user: nothing proves the file is right).
        resume: continue ``dest.part`` with a ``Range`` request when it exists.
        retries: how many times an interrupted transfer is resumed within this call.
        timeout: socket timeout in seconds.
        progress: show a tqdm progress bar.

    Returns:
        ``dest``. An existing ``dest`` whose checksum matches is kept without
        any network access.

    Raises:
        DownloadError: host unreachable (offline, DNS failure, refused
            connection), HTTP error, or transfer interrupted more than
            ``retries`` times (``dest.part`` is kept for the next call).
        ChecksumError: the complete file does not match ``checksum``; the bad
            file is deleted, so nothing under ``dest`` pretends to be valid.
    """
    if checksum is not None:
        parse_checksum(checksum)  # a malformed checksum is refused before any transfer
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.exists():
        if verify_checksum(dest, checksum):
            return dest
        raise ChecksumError(f"{dest}: exists but does not match {checksum}; delete it to download again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not resume and part.exists():
        part.unlink()
    attempt = 0
    while True:
        try:
            _fetch(url, part, timeout, progress, chunk_size)
            break
        except _Interrupted as exc:
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"{url}: transfer interrupted ({exc}); {part.stat().st_size if part.exists() else 0} bytes "
                    f"kept in {part}; run again to resume") from None
    if not verify_checksum(part, checksum):
        algo, digest = parse_checksum(checksum)
        actual = file_checksum(part, algo)
        part.unlink()
        raise ChecksumError(
            f"{url}: checksum mismatch for {dest.name} (expected {algo}:{digest}, got {algo}:{actual}); "
            f"the downloaded file was deleted. The server may have changed the file or the transfer was "
            f"corrupted; run again, or pass the right checksum if the archive was updated upstream")
    os.replace(part, dest)
    return dest


class _Interrupted(Exception):
    """A transfer that stopped early but can be resumed."""


def _fetch(url: str, part: Path, timeout: float, progress: bool, chunk_size: int) -> None:
    """Append the missing bytes of ``url`` to ``part``; raise :class:`_Interrupted` on a cut."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "audioup-download/1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # asked past the end: the partial file is already complete
            return
        raise DownloadError(f"{url}: HTTP error {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(_unreachable_message(url, exc.reason, part)) from None
    except (socket.timeout, ConnectionError) as exc:
        raise DownloadError(_unreachable_message(url, exc, part)) from None
    with response:
        status = getattr(response, "status", 200)
        if have and status != 206:  # the server ignored Range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        bar = _progress_bar(total, have, part.name[: -len(".part")], progress)
        written = have
        try:
            with open(part, mode) as f:
                while True:
                    try:
                        block = response.read(chunk_size)
                    except (http.client.IncompleteRead, ConnectionError, socket.timeout, OSError) as exc:
                        raise _Interrupted(f"{type(exc).__name__} after {written} bytes") from None
                    if not block:
                        break
                    f.write(block)
                    written += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
    if total is not None and written < total:
        raise _Interrupted(f"connection closed after {written} of {total} bytes")


def _unreachable_message(url: str, reason, part: Path) -> str:
    host = urllib.request.urlparse(url).netloc or url
    if isinstance(reason, socket.gaierror):
        why = f"cannot resolve host name {host!r} (no network or DNS?)"
    elif isinstance(reason, ConnectionRefusedError):
        why = f"connection to {host} refused (nothing listening, or a firewall)"
    elif isinstance(reason, (socket.timeout, TimeoutError)):
        why = f"connection to {host} timed out"
    else:
        why = f"cannot reach {host} ({reason})"
    return (f"{url}: {why}. Are you offline? Download the file by other means and put it at "
            f"{part.with_name(part.name[: -len('.part')])} (it is verified and used as is), then run again.")


def _progress_bar(total, initial, name, enabled):
    return progress_bar(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                        desc=name, enabled=enabled, leave=False)


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


def _extract_tar_member(tar: tarfile.TarFile, m: tarfile.TarInfo, root: Path, archive) -> Optional[Path]:
    """Write one checked member without tarfile's own extraction (no ``filter`` needed).

    Files get the umask's mode plus the execute bits they had (never setuid, setgid
    or sticky bits, never the archive's owner); an existing file or link in the way is
    replaced, never written through. Returns the path of a link made, else ``None``.
    """
    parts = _parts(m.name)
    if not parts:
        return None
    target = root.joinpath(*parts)
    _make_folders(root, target.parent, m.name, archive)
    if m.isdir():
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
        _inside(root, target, m.name, archive)
        return None
    _clear_place(target, m.name, archive)
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
    parts = _parts(info.filename)
    if not parts:
        return
    target = root.joinpath(*parts)
    _make_folders(root, target.parent, info.filename, archive)
    if info.is_dir():
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
        _inside(root, target, info.filename, archive)
        return
    _clear_place(target, info.filename, archive)
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
