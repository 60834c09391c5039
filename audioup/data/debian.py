"""Debian packages as a source of real recordings: ``apt-get download``, checksums, safe unpacking.

A ``.deb`` is an ``ar`` archive holding ``debian-binary``, ``control.tar.*`` and
``data.tar.*``. :func:`read_ar_members` parses the ``ar`` container in Python
(no ``dpkg`` needed) and :func:`extract_deb` hands the ``data.tar.*`` member to
:func:`audioup.data.archive.extract_archive`, which keeps relative links that
stay inside the destination (Debian's ``usr/share/doc/a/html -> ../b/html``),
refuses absolute paths, ``..`` components, links leading out, device files and
oversized members, and strips setuid/setgid bits.

:func:`apt_download` runs ``apt-get download PKG=VERSION`` in a folder; it needs
no root and installs nothing. A package file is used only when its sha256 is the
one recorded for it (:class:`DebPackage`), unless the caller accepts other
versions (apt itself checks a downloaded file against the archive's signed
index, so another version is still authentic, just not the one measured here).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from ..audio.fs import atomic_write
from .archive import ArchiveError, extract_archive
from .download import file_checksum

AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
_DATA_SUFFIXES = (".tar.xz", ".tar.gz", ".tar.bz2", ".tar")
_TMP_PREFIX = ".audioup-deb-"


class DebError(RuntimeError):
    """A package that cannot be fetched, verified or unpacked; the message says what to do."""


@dataclass(frozen=True)
class DebPackage:
    """A Debian package pinned to one version and the sha256 of its ``.deb`` (measured on Debian 12)."""

    name: str
    version: str
    sha256: str
    size: int
    license: str

    @property
    def filename(self) -> str:
        """The file name ``apt-get download`` writes (an epoch's ``:`` becomes ``%3a``)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_all.deb"


def read_ar_members(path) -> Dict[str, tuple]:
    """``{member name: (offset, size)}`` of an ``ar`` archive (the container of a ``.deb``).

    Raises:
        ArchiveError: not an ``ar`` archive, or a truncated / malformed header.
    """
    path = Path(path)
    members: Dict[str, tuple] = {}
    total = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(len(AR_MAGIC)) != AR_MAGIC:
            raise ArchiveError(f"{path}: not a Debian package (no 'ar' signature)")
        pos = len(AR_MAGIC)
        while pos < total:
            f.seek(pos)
            header = f.read(_AR_HEADER)
            if len(header) < _AR_HEADER or header[58:60] != b"`\n":
                raise ArchiveError(f"{path}: malformed ar header at byte {pos} (truncated download?)")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError:
                raise ArchiveError(f"{path}: bad member size in ar header at byte {pos}") from None
            start = pos + _AR_HEADER
            if size < 0 or start + size > total:
                raise ArchiveError(f"{path}: member {name!r} runs past the end of the file (truncated?)")
            if "/" in name or name in ("", ".", ".."):
                raise ArchiveError(f"{path}: unsafe ar member name {name!r}")
            members[name] = (start, size)
            pos = start + size + (size % 2)  # members are 2-byte aligned
    return members


def extract_deb(deb, out_dir, progress: bool = False) -> Path:
    """Unpack the files of a ``.deb`` (its ``data.tar.*``) into ``out_dir``, safely.

    A marker ``out_dir/.extracted-NAME.data.tar.*`` makes a second call a no-op;
    an interrupted extraction is redone, and the temporary copy of ``data.tar`` that
    a killed run left is removed first (:func:`remove_stale_deb_temporaries`).

    Raises:
        ArchiveError: not a package, no data member, or an unsafe member.
    """
    deb, out_dir = Path(deb), Path(out_dir)
    members = read_ar_members(deb)
    data = [n for n in members if n.startswith("data.tar")]
    if not data:
        raise ArchiveError(f"{deb}: no data.tar member (members: {', '.join(members) or 'none'})")
    name = data[0]
    if not name.endswith(_DATA_SUFFIXES):
        raise ArchiveError(f"{deb}: member {name!r} uses a compression Python cannot read "
                           f"(expected {', '.join(_DATA_SUFFIXES)}); extract it with 'dpkg-deb -x'")
    tar_name = f"{deb.stem}.{name}"
    if (out_dir / f".extracted-{tar_name}").exists():
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_deb_temporaries(out_dir)
    start, size = members[name]
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f"{_TMP_PREFIX}{os.getpid()}-") as tmp:
        tar_path = atomic_write(Path(tmp) / tar_name, lambda dst: _copy_member(deb, start, size, dst))
        extract_archive(tar_path, out_dir, progress=progress)  # writes the marker last
    return out_dir


def remove_stale_deb_temporaries(out_dir) -> list:
    """Remove the temporary folders (``.audioup-deb-PID-XXXX``) that a killed :func:`extract_deb` left.

    Each holds a copy of a package's ``data.tar`` (up to 170 MiB). Only folders whose
    process is gone are removed, so an extraction running beside this one keeps its own.
    Folders of the older ``tmpXXXX`` form are removed when they hold nothing but such a copy.
    """
    removed = []
    for folder in Path(out_dir).iterdir():
        if not folder.is_dir() or folder.is_symlink():
            continue
        if folder.name.startswith(_TMP_PREFIX):
            pid = folder.name[len(_TMP_PREFIX):].split("-", 1)[0]
            if pid.isdigit() and _alive(int(pid)):
                continue
        elif not (folder.name.startswith("tmp") and _only_data_tars(folder)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def _only_data_tars(folder: Path) -> bool:
    entries = list(folder.iterdir())
    return bool(entries) and all(e.is_file() and ".data.tar" in e.name for e in entries)


def _copy_member(deb: Path, start: int, size: int, dst) -> None:
    """Copy ``size`` bytes of ``deb`` from offset ``start`` into the open file ``dst``."""
    with open(deb, "rb") as src:
        src.seek(start)
        left = size
        while left:
            block = src.read(min(left, 1 << 20))
            if not block:
                raise ArchiveError(f"{deb}: truncated data member")
            dst.write(block)
            left -= len(block)


def apt_download(package: DebPackage, folder, any_version: bool = False,
                 apt: Optional[str] = None) -> Path:
    """The verified ``.deb`` of ``package`` in ``folder``, fetched with ``apt-get download`` if missing.

    Args:
        package: what to fetch and the checksum it must have.
        folder: where the ``.deb`` goes (kept: a second run reuses it without network).
        any_version: when the pinned version is not available (another Debian
            release), take apt's candidate version and skip the sha256 check.
        apt: the ``apt-get`` executable (default: from ``PATH``).

    Raises:
        DebError: apt missing, package unknown to apt, download failed, or a
            checksum mismatch (the bad file is removed).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / package.filename
    if path.is_file():
        return _verified(path, package)
    if any_version:
        others = sorted(folder.glob(f"{package.name}_*.deb"))
        if others:
            return others[-1]
    apt = apt or shutil.which("apt-get")
    if apt is None:
        raise DebError(f"apt-get not found: {package.name} comes from Debian's archive. On a machine "
                       f"without apt, download {package.filename} (e.g. from "
                       f"https://packages.debian.org/bookworm/all/{package.name}/download) into "
                       f"{folder} and run again; it is verified by sha256 and used as is")
    target = package.name if any_version else f"{package.name}={package.version}"
    result = _run_apt(apt, target, folder)
    if result.returncode != 0 and not any_version:
        message = _apt_message(result)
        raise DebError(f"apt-get download {target} failed: {message}. If the package is unknown, run "
                       f"'apt-get update' (as root) once; if this release has another version, pass "
                       f"--any-version (apt still checks the file against the signed archive index)")
    if result.returncode != 0:
        raise DebError(f"apt-get download {target} failed: {_apt_message(result)}. "
                       "If the package is unknown, run 'apt-get update' (as root) once")
    if path.is_file():
        return _verified(path, package)
    found = sorted(folder.glob(f"{package.name}_*.deb"))
    if not found:
        raise DebError(f"apt-get download {target} reported success but wrote no {package.name}_*.deb "
                       f"into {folder}")
    return found[-1]


def _run_apt(apt: str, target: str, folder: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C")
    try:
        return subprocess.run([apt, "download", target], cwd=folder, capture_output=True, text=True,
                              env=env, check=False)
    except OSError as exc:
        raise DebError(f"cannot run {apt}: {exc}") from None


def _apt_message(result: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (result.stderr + result.stdout).splitlines()
             if ln.strip().startswith(("E:", "Err"))]
    return "; ".join(lines[:3]) or f"exit status {result.returncode}"


def _verified(path: Path, package: DebPackage) -> Path:
    actual = file_checksum(path, "sha256")
    if actual != package.sha256:
        path.unlink()
        raise DebError(f"{path}: sha256 {actual} is not the recorded {package.sha256} for "
                       f"{package.name} {package.version}; the file was removed. Run again to fetch "
                       f"it anew, or pass --any-version to accept another version")
    return path
