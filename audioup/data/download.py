"""Downloading and unpacking dataset archives: resume, checksums, safe extraction.

:func:`download` fetches one URL into a file. Bytes arrive in ``FILE.part``;
an interrupted transfer leaves that file behind and the next call asks the
server for the rest with an HTTP ``Range`` header. Only a complete file whose
checksum matches is renamed to its final name, so a file under the final name
is always a verified one. :func:`extract_archive` unpacks ``.tar.bz2``,
``.tar.gz``, ``.tar`` and ``.zip`` archives and refuses members that would
land outside the destination folder (``../`` paths, absolute paths, links
pointing out or up), writing each member itself rather than trusting tarfile's
extraction filters, which older Pythons lack.

Everything here uses the standard library (``urllib``, ``tarfile``,
``zipfile``); only the progress bar needs tqdm.
"""
from __future__ import annotations

import hashlib
import http.client
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
from typing import Optional, Tuple

from ..audio.fs import atomic_write, current_umask
from ..progress import progress_bar

CHUNK_SIZE = 1 << 20
_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}


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


def _safe_target(root: Path, member: str, archive) -> Path:
    """Where ``member`` would be written under ``root``; raise if that is outside ``root``."""
    pure = PurePosixPath(member.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and pure.parts[0].endswith(":")) or ".." in pure.parts:
        raise ArchiveError(f"{archive}: unsafe member {member!r} (absolute path or '..'); refusing to extract")
    if not pure.parts:
        return root
    # the last component is replaced, never followed, so only the folder is resolved
    target = (root / Path(*pure.parts[:-1])).resolve() / pure.parts[-1]
    if target != root and root not in target.parents:
        raise ArchiveError(f"{archive}: member {member!r} would be written outside {root}; refusing to extract")
    return target


def _items(items, archive: Path, progress: bool):
    return progress_bar(items, desc=f"extracting {archive.name}", unit="file", enabled=progress, leave=False)


def extract_archive(archive, out_dir, force: bool = False, progress: bool = True) -> Path:
    """Unpack ``archive`` into ``out_dir`` after checking every member.

    Members with absolute paths or ``..`` components, symbolic links that do not
    point down into the archive (absolute, or with ``..``), hard links to paths
    outside it, and device or FIFO entries are refused before anything is
    written; as each member is written, its real path (links followed) is checked
    to be inside ``out_dir``. This does not rely on tarfile's ``data`` filter
    (missing on Python < 3.10.12 / 3.11.4); files never keep setuid, setgid or
    sticky bits, and zip members that are symbolic links are refused. A marker file ``out_dir/.extracted-ARCHIVE`` is
    written last, so an interrupted extraction is redone and a finished one
    makes a second call a no-op (unless ``force``). A compressed tar is read
    twice (check, then extract): about two minutes for LJSpeech's 2.6 GB.

    Returns:
        ``out_dir``.

    Raises:
        ArchiveError: unknown type, unsafe member, or a corrupt archive.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    marker = out_dir / f".extracted-{archive.name}"
    if marker.exists() and not force:
        return out_dir
    kind = archive_format(archive)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    try:
        if kind == "tar":
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for m in members:
                    _check_tar_member(root, m, archive)
                for m in _items(members, archive, progress):
                    _extract_tar_member(tar, m, root, archive)
        else:
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _safe_target(root, info.filename, archive)
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise ArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; "
                                           "refusing to extract")
                for info in _items(zf.infolist(), archive, progress):
                    target = root / info.filename
                    _inside(root, target.parent, info.filename, archive)
                    if target.is_symlink():  # replaced, never written through
                        target.unlink()
                    zf.extract(info, root)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{archive}: corrupt or truncated archive ({exc})") from None
    except OSError as exc:
        raise ArchiveError(f"{archive}: cannot extract into {root} ({exc})") from None
    atomic_write(marker, "ok\n")
    return out_dir


def _check_tar_member(root: Path, m: tarfile.TarInfo, archive) -> None:
    """Refuse, before anything is written, members that are not plain files, folders or safe links.

    A symbolic link may only point down into the archive (relative, no ``..``): a chain of
    such links can never leave ``root``, whatever order the members come in. Whether a
    path resolves inside ``root`` is checked again against the real tree as each member is
    written (:func:`_extract_tar_member`), so links already on disk cannot redirect it.
    """
    _safe_target(root, m.name, archive)
    if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
        raise ArchiveError(f"{archive}: member {m.name!r} is a device, FIFO or other special file; "
                           "refusing to extract")
    if m.issym():
        link = PurePosixPath(m.linkname.replace("\\", "/"))
        if link.is_absolute() or ".." in link.parts or not link.parts or link.parts[0].endswith(":"):
            raise ArchiveError(f"{archive}: link {m.name!r} -> {m.linkname!r} points outside {root} or "
                               "upwards ('..'); links may only point down into the archive; refusing to extract")
    elif m.islnk():
        _safe_target(root, m.linkname, archive)


def _extract_tar_member(tar: tarfile.TarFile, m: tarfile.TarInfo, root: Path, archive) -> None:
    """Write one checked member without tarfile's own extraction (no ``filter`` needed).

    Files get the umask's mode plus the execute bits they had (never setuid, setgid
    or sticky bits, never the archive's owner); an existing file or link in the way is
    replaced, never written through.
    """
    parts = PurePosixPath(m.name.replace("\\", "/")).parts
    if not parts:
        return
    target = root.joinpath(*parts)
    _make_folders(root, target.parent, m.name, archive)
    if m.isdir():
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
        _inside(root, target, m.name, archive)
        return
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        raise ArchiveError(f"{archive}: member {m.name!r} would replace the folder {target}; refusing")
    if m.issym():
        os.symlink(m.linkname, target)
        return
    if m.islnk():
        source = root.joinpath(*PurePosixPath(m.linkname.replace("\\", "/")).parts)
        _inside(root, source, m.name, archive)
        if not source.is_file():
            raise ArchiveError(f"{archive}: hard link {m.name!r} -> {m.linkname!r}: no such file extracted")
        shutil.copyfile(source, target)
    else:
        src = tar.extractfile(m)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        with src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK_SIZE)
    if m.mode & 0o111:  # keep "executable", nothing else: the umask decides the rest
        os.chmod(target, 0o777 & ~current_umask())
    os.utime(target, (m.mtime, m.mtime))


def _make_folders(root: Path, folder: Path, name: str, archive) -> None:
    """Create ``folder`` under ``root``, checking against the real tree that it stays inside."""
    _inside(root, folder, name, archive)
    folder.mkdir(parents=True, exist_ok=True)
    _inside(root, folder, name, archive)


def _inside(root: Path, path: Path, name: str, archive) -> None:
    real = Path(os.path.realpath(path))
    if real != root and root not in real.parents:
        raise ArchiveError(f"{archive}: member {name!r} would be written outside {root} "
                           f"(through a link, to {real}); refusing to extract")
