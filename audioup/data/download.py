"""Downloading dataset files: resume and checksums.

:func:`download` fetches one URL into a file. Bytes arrive in ``FILE.part``;
an interrupted transfer leaves that file behind and the next call asks the
server for the rest with an HTTP ``Range`` header. Only a complete file whose
checksum matches is renamed to its final name, so a file under the final name
is always a verified one. :func:`parse_checksum`, :func:`file_checksum` and
:func:`verify_checksum` read and check ``"sha256:HEX"``-style checksums.
Unpacking what was fetched is :mod:`.archive`'s.

Everything here uses the standard library (``urllib``, ``hashlib``); only the
progress bar needs tqdm.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Tuple

from ..progress import progress_bar

CHUNK_SIZE = 1 << 20
_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}


class DownloadError(RuntimeError):
    """A download that could not be completed; the message says why and what to do."""


class ChecksumError(DownloadError):
    """A downloaded file whose checksum is not the expected one."""


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
