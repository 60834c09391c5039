"""Download (resume, checksums, offline errors) and safe archive extraction."""
from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import zipfile

import numpy as np
import pytest

from audioup.data.archive import ArchiveError, extract_archive
from audioup.data.download import (ChecksumError, DownloadError, _unreachable_message, download, file_checksum,
                                   parse_checksum)


@pytest.fixture
def payload():
    return np.random.default_rng(1).integers(0, 256, 300_000, dtype=np.uint8).tobytes()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_full_download_verifies_and_skips_second_time(http_server, payload, tmp_path):
    url, state = http_server
    state.files["/a.bin"] = payload
    dest = download(f"{url}/a.bin", tmp_path / "a.bin", checksum=sha(payload), progress=False,
                    chunk_size=65536)
    assert dest.read_bytes() == payload
    assert not (tmp_path / "a.bin.part").exists()
    assert download(f"{url}/a.bin", dest, checksum=sha(payload), progress=False) == dest
    assert len(state.requests) == 1  # verified file reused without a request


def test_md5_checksum_accepted(http_server, payload, tmp_path):
    url, state = http_server
    state.files["/a.bin"] = payload
    md5 = hashlib.md5(payload).hexdigest()
    assert download(f"{url}/a.bin", tmp_path / "a.bin", checksum=md5, progress=False).read_bytes() == payload


def test_interrupted_transfer_resumes_with_range(http_server, payload, tmp_path):
    url, state = http_server
    state.files["/a.bin"] = payload
    state.cut_after = 100_000
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match="interrupted.*run again to resume"):
        download(f"{url}/a.bin", dest, checksum=sha(payload), retries=0, progress=False, chunk_size=8192)
    part = tmp_path / "a.bin.part"
    assert not dest.exists()
    assert part.stat().st_size == 100_000
    download(f"{url}/a.bin", dest, checksum=sha(payload), progress=False)
    assert state.requests[-1] == ("/a.bin", "bytes=100000-")
    assert dest.read_bytes() == payload and not part.exists()


def test_retry_resumes_within_one_call(http_server, payload, tmp_path):
    url, state = http_server
    state.files["/a.bin"] = payload
    state.cut_after = 12_345
    dest = download(f"{url}/a.bin", tmp_path / "a.bin", checksum=sha(payload), retries=1, progress=False,
                    chunk_size=4096)
    assert [r[1] for r in state.requests] == [None, "bytes=12345-"]
    assert dest.read_bytes() == payload


def test_server_ignoring_range_restarts_cleanly(http_server, payload, tmp_path):
    url, state = http_server
    state.files["/a.bin"] = payload
    (tmp_path / "a.bin.part").write_bytes(payload[:5000])
    state.ignore_range = True
    dest = download(f"{url}/a.bin", tmp_path / "a.bin", checksum=sha(payload), progress=False)
    assert state.requests[0][1] == "bytes=5000-"
    assert dest.read_bytes() == payload  # not 5000 duplicated bytes in front


def test_complete_part_file_is_finished_without_body(http_server, payload, tmp_path):
    url, state = http_server
    state.files["/a.bin"] = payload
    (tmp_path / "a.bin.part").write_bytes(payload)  # e.g. killed between last byte and rename
    dest = download(f"{url}/a.bin", tmp_path / "a.bin", checksum=sha(payload), progress=False)
    assert dest.read_bytes() == payload


def test_wrong_checksum_is_reported_and_file_removed(http_server, payload, tmp_path):
    url, state = http_server
    state.files["/a.bin"] = payload
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ChecksumError) as err:
        download(f"{url}/a.bin", tmp_path / "a.bin", checksum=wrong, progress=False)
    msg = str(err.value)
    assert "checksum mismatch" in msg and "0" * 64 in msg and hashlib.sha256(payload).hexdigest() in msg
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "a.bin.part").exists()


def test_existing_file_with_wrong_checksum_is_not_trusted(tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"something else")
    with pytest.raises(ChecksumError, match="does not match"):
        download("http://127.0.0.1:9/a.bin", dest, checksum="sha256:" + "1" * 64, progress=False)


def test_offline_connection_refused(closed_port, tmp_path):
    with pytest.raises(DownloadError) as err:
        download(f"http://127.0.0.1:{closed_port}/x.tar.bz2", tmp_path / "x.tar.bz2", progress=False)
    msg = str(err.value)
    assert "refused" in msg and "offline" in msg and str(tmp_path / "x.tar.bz2") in msg
    assert not (tmp_path / "x.tar.bz2").exists()


def test_dns_failure_message():
    msg = _unreachable_message("https://data.example/x.zip", socket.gaierror(-2, "Name or service not known"),
                               __import__("pathlib").Path("/d/x.zip.part"))
    assert "cannot resolve host name 'data.example'" in msg and "offline" in msg and "/d/x.zip" in msg


def test_http_404(http_server, tmp_path):
    url, _ = http_server
    with pytest.raises(DownloadError, match="HTTP error 404"):
        download(f"{url}/missing.zip", tmp_path / "m.zip", progress=False)


@pytest.mark.parametrize("text,expected", [
    ("sha256:" + "A" * 64, ("sha256", "a" * 64)),
    ("b" * 32, ("md5", "b" * 32)),
    ("c" * 40, ("sha1", "c" * 40)),
])
def test_parse_checksum(text, expected):
    assert parse_checksum(text) == expected


@pytest.mark.parametrize("bad", ["sha256:abc", "xyz", "md5:" + "g" * 32, "nohash:" + "0" * 32])
def test_parse_checksum_rejects(bad):
    with pytest.raises(ValueError, match="bad checksum"):
        parse_checksum(bad)


def _tar(path, members, mode):
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("suffix,mode", [(".tar.bz2", "w:bz2"), (".tar.gz", "w:gz"), (".tar", "w")])
def test_extract_tar(tmp_path, suffix, mode):
    archive = _tar(tmp_path / f"a{suffix}", {"top/x.txt": b"x", "top/sub/y.txt": b"yy"}, mode)
    out = extract_archive(archive, tmp_path / "out")
    assert (out / "top/x.txt").read_bytes() == b"x" and (out / "top/sub/y.txt").read_bytes() == b"yy"
    (out / "top/x.txt").write_bytes(b"edited")
    extract_archive(archive, out)  # marker: second call does nothing
    assert (out / "top/x.txt").read_bytes() == b"edited"
    (out / f".extracted-a{suffix}").unlink()  # as if interrupted before the end: extracted again
    extract_archive(archive, out, progress=False)
    assert (out / "top/x.txt").read_bytes() == b"x"


def test_extract_zip(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("d/z.txt", "zz")
    assert (extract_archive(archive, tmp_path / "o") / "d/z.txt").read_text() == "zz"


@pytest.mark.parametrize("name", ["../evil.txt", "ok/../../evil.txt", "/tmp/evil_abs.txt"])
def test_tar_path_traversal_refused(tmp_path, name):
    archive = _tar(tmp_path / "bad.tar.gz", {"fine.txt": b"f", name: b"evil"}, "w:gz")
    out = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError, match="refusing to extract"):
        extract_archive(archive, out)
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not (out / "fine.txt").exists()  # checked before anything is written


def test_tar_symlink_out_refused(tmp_path):
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("escape")
        info.type, info.linkname = tarfile.SYMTYPE, "../../etc"
        tar.addfile(info)
    with pytest.raises(ArchiveError, match="points outside"):
        extract_archive(archive, tmp_path / "out")


def test_zip_path_traversal_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../evil.txt", "evil")
    with pytest.raises(ArchiveError, match="refusing to extract"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_corrupt_and_unknown_archives(tmp_path):
    bad = tmp_path / "c.tar.gz"
    bad.write_bytes(b"not a gzip file at all")
    with pytest.raises(ArchiveError, match="corrupt"):
        extract_archive(bad, tmp_path / "o")
    with pytest.raises(ArchiveError, match="unknown archive type"):
        extract_archive(tmp_path / "x.rar", tmp_path / "o")


def test_file_checksum_matches_hashlib(tmp_path, payload):
    (tmp_path / "p").write_bytes(payload)
    assert file_checksum(tmp_path / "p", "sha256", chunk_size=1000) == hashlib.sha256(payload).hexdigest()


def _tar_entries(path, entries):
    """``entries``: (name, type, linkname or data, mode) in archive order."""
    with tarfile.open(path, "w") as tar:
        for name, kind, value, mode in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            if kind == tarfile.REGTYPE:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
            else:
                info.linkname = value
                tar.addfile(info)
    return path


@pytest.fixture(params=["filter", "no filter"])
def tar_filter(request, monkeypatch):
    """Run each archive test as on Python 3.10.0-3.10.11 too, where tarfile has no ``data`` filter."""
    if request.param == "no filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
        monkeypatch.delattr(tarfile, "fully_trusted_filter", raising=False)
        real_extract = tarfile.TarFile.extract

        def extract_without_filter(self, member, path="", set_attrs=True, **kwargs):
            kwargs.pop("filter", None)
            return real_extract(self, member, path, set_attrs, filter="fully_trusted", **kwargs)

        monkeypatch.setattr(tarfile.TarFile, "extract", extract_without_filter)
        monkeypatch.setattr(tarfile.TarFile, "extractall",
                            lambda self, *a, **k: pytest.fail("extractall would trust the archive"))
    return request.param


def test_link_chain_escape_refused_without_tar_filter(tmp_path, tar_filter):
    # x -> . (harmless alone), y -> x/.. (outside once x exists), then a file through y
    archive = _tar_entries(tmp_path / "chain.tar", [
        ("x", tarfile.SYMTYPE, ".", 0o777), ("y", tarfile.SYMTYPE, "x/..", 0o777),
        ("y/escaped.txt", tarfile.REGTYPE, b"evil", 0o644)])
    out = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError, match="refusing to extract"):
        extract_archive(archive, out, progress=False)
    assert not (tmp_path / "deep" / "escaped.txt").exists()
    assert not list(out.iterdir())  # refused before anything was written


def test_no_setuid_and_downward_links_kept_without_tar_filter(tmp_path, tar_filter):
    archive = _tar_entries(tmp_path / "ok.tar", [
        ("d", tarfile.DIRTYPE, "", 0o7777), ("d/run.sh", tarfile.REGTYPE, b"#!/bin/sh\n", 0o6755),
        ("d/data.txt", tarfile.REGTYPE, b"data", 0o4666), ("d/alias", tarfile.SYMTYPE, "data.txt", 0o777),
        ("d/hard", tarfile.LNKTYPE, "d/data.txt", 0o644)])
    out = extract_archive(archive, tmp_path / "out", progress=False)
    mask = os.umask(0)
    os.umask(mask)
    assert (out / "d/run.sh").stat().st_mode & 0o7777 == 0o777 & ~mask  # executable, no setuid/setgid
    assert (out / "d/data.txt").stat().st_mode & 0o7777 == 0o666 & ~mask
    assert not (out / "d").stat().st_mode & 0o7000
    assert (out / "d/alias").is_symlink() and (out / "d/alias").read_text() == "data"
    assert (out / "d/hard").read_text() == "data"


def test_existing_link_in_the_target_is_replaced_not_followed(tmp_path, tar_filter):
    outside = tmp_path / "victim.txt"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "f.txt").symlink_to(outside)
    archive = _tar_entries(tmp_path / "a.tar", [("f.txt", tarfile.REGTYPE, b"new", 0o644)])
    extract_archive(archive, out, progress=False)
    assert outside.read_text() == "precious" and (out / "f.txt").read_text() == "new"
    (out / "f.txt").unlink()
    (out / "f.txt").symlink_to(outside)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("f.txt", "zipped")
    extract_archive(tmp_path / "a.zip", out, progress=False)
    assert outside.read_text() == "precious" and (out / "f.txt").read_text() == "zipped"


def test_zip_symlink_member_refused(tmp_path):
    archive = tmp_path / "l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("VCTK/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc")
        zf.writestr("VCTK/link/passwd", "x")
    with pytest.raises(ArchiveError, match="symbolic link; refusing"):
        extract_archive(archive, tmp_path / "o", progress=False)


# --- the rule of tarfile's data filter and dpkg: relative links that stay inside are kept -------------

def _debian_shaped(path):
    """Links as Debian packages ship them (fillets-ng-data): a doc folder pointing at a sibling
    package's folder, and font links up three levels into /usr/share/fonts that dangle here."""
    return _tar_entries(path, [
        ("./usr/share/doc/fillets-ng-data/html/index.html", tarfile.REGTYPE, b"<html>", 0o644),
        ("./usr/share/doc/fillets-ng/html", tarfile.SYMTYPE, "../fillets-ng-data/html", 0o777),
        ("./usr/share/games/fillets-ng/font/font_menu.ttf", tarfile.SYMTYPE,
         "../../../fonts/truetype/freefont/FreeSansBold.ttf", 0o777),
        ("./usr/share/games/fillets-ng/sound/a.ogg", tarfile.REGTYPE, b"ogg", 0o644)])


def test_debian_shaped_links_inside_are_extracted(tmp_path, tar_filter):
    out = extract_archive(_debian_shaped(tmp_path / "data.tar"), tmp_path / "out", progress=False)
    doc = out / "usr/share/doc/fillets-ng/html"
    assert doc.is_symlink() and os.readlink(doc) == "../fillets-ng-data/html"
    assert (doc / "index.html").read_bytes() == b"<html>"
    font = out / "usr/share/games/fillets-ng/font/font_menu.ttf"
    assert os.readlink(font) == "../../../fonts/truetype/freefont/FreeSansBold.ttf"
    assert not font.exists()  # dangling, but it would land inside: kept as dpkg keeps it
    assert os.path.realpath(font) == str(out.resolve() / "usr/share/fonts/truetype/freefont/FreeSansBold.ttf")
    assert (out / "usr/share/games/fillets-ng/sound/a.ogg").read_bytes() == b"ogg"


@pytest.mark.parametrize("name,target", [
    ("usr/share/doc/a/html", "../../../../../etc"),         # one level too many
    ("a/l", "/etc/passwd"),                                  # absolute
    ("a/l", "../b/../../x"),                                 # leaves, comes back lexically never
    ("l", ".."),
    ("a/b/l", "../../../tmp"),
])
def test_links_that_leave_are_refused_before_writing(tmp_path, tar_filter, name, target):
    archive = _tar_entries(tmp_path / "bad.tar", [("fine.txt", tarfile.REGTYPE, b"f", 0o644),
                                                  (name, tarfile.SYMTYPE, target, 0o777)])
    out = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError, match="points outside"):
        extract_archive(archive, out, progress=False)
    assert not list(out.iterdir())


def test_link_through_a_link_of_the_archive_is_resolved_as_the_kernel_would(tmp_path, tar_filter):
    # d/up -> .. is inside (it is the root); e -> d/up/.. is lexically "d", but really the root's parent
    archive = _tar_entries(tmp_path / "chain.tar", [
        ("e", tarfile.SYMTYPE, "d/up/..", 0o777), ("d/up", tarfile.SYMTYPE, "..", 0o777)])
    with pytest.raises(ArchiveError, match="points outside"):
        extract_archive(archive, tmp_path / "out", progress=False)
    ok = _tar_entries(tmp_path / "ok.tar", [("d/up", tarfile.SYMTYPE, "..", 0o777),
                                            ("e", tarfile.SYMTYPE, "d/up/d", 0o777)])
    out = extract_archive(ok, tmp_path / "out2", progress=False)
    assert os.path.realpath(out / "e") == str((out / "d").resolve())


def test_link_loop_refused(tmp_path):
    archive = _tar_entries(tmp_path / "loop.tar", [("a", tarfile.SYMTYPE, "b", 0o777),
                                                   ("b", tarfile.SYMTYPE, "a", 0o777),
                                                   ("a/x", tarfile.REGTYPE, b"x", 0o644)])
    with pytest.raises(ArchiveError, match="loop of symbolic links"):
        extract_archive(archive, tmp_path / "out", progress=False)


def test_link_leaving_through_a_link_already_on_disk_is_removed(tmp_path):
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    (out / "d" / "up").symlink_to(tmp_path)  # placed there before, not by the archive
    archive = _tar_entries(tmp_path / "a.tar", [("l", tarfile.SYMTYPE, "d/up/secret", 0o777)])
    with pytest.raises(ArchiveError, match="resolves outside"):
        extract_archive(archive, out, progress=False)
    assert not (out / "l").is_symlink()


# --- sizes: bounded before anything is written ------------------------------------------------------

def _sparse_tar(path, real_size):
    """A 10 KiB tar whose one member expands to ``real_size`` bytes (PAX sparse 1.0, as GNU tar -S)."""
    info = tarfile.TarInfo("big.img")
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "big.img",
                        "GNU.sparse.realsize": str(real_size)}
    body = b"1\n0\n10\n".ljust(512, b"\0") + b"x" * 10
    info.size = len(body)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(body))
    return path


def test_sparse_member_refused_before_writing(tmp_path, monkeypatch):
    import audioup.data.archive as dl

    def no_write(*args):  # a regression must fail here, not write 50 GiB (the earlier code filled a disk)
        pytest.fail("a member was written before the size check")

    monkeypatch.setattr(dl, "_write_file", no_write)
    archive = _sparse_tar(tmp_path / "sparse.tar", 50 << 30)
    assert archive.stat().st_size < 20_000
    with pytest.raises(ArchiveError, match="big.img.*50.0 GiB, more than the limit"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "big.img").exists()


def test_bomb_refused_by_ratio_and_total(tmp_path, monkeypatch):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 4 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < 20_000  # ~1000x
    import audioup.data.archive as dl
    monkeypatch.setattr(dl, "RATIO_FLOOR_BYTES", 1 << 20)  # the floor (256 MiB) scaled down for the test
    with pytest.raises(ArchiveError, match=r"times the archive's own size.*bomb"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "zeros").exists()
    with pytest.raises(ArchiveError, match="add up to 4.0 MiB, more than the limit of 1.0 MiB"):
        extract_archive(archive, tmp_path / "out", progress=False, max_total_bytes=1 << 20, max_ratio=1e6)
    zipped = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", bytes(4 << 20))
    with pytest.raises(ArchiveError, match="bomb"):
        extract_archive(zipped, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "zeros").exists()
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(ArchiveError, match="only 0.0 MiB free; nothing was extracted"):
        extract_archive(archive, tmp_path / "out", progress=False, max_ratio=1e6)


def test_partial_member_removed_after_a_full_disk(tmp_path, monkeypatch):
    import errno

    import audioup.data.archive as dl
    archive = _tar(tmp_path / "a.tar", {"ok.txt": b"ok", "big.bin": b"b" * 100_000}, "w")
    real_copy, calls = dl.shutil.copyfileobj, []

    def copy_then_fill(src, dst, length=0):
        calls.append(src)
        if len(calls) == 2:  # the second member, big.bin: the disk fills half-way
            dst.write(src.read(50_000))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst, length)

    monkeypatch.setattr(dl.shutil, "copyfileobj", copy_then_fill)
    with pytest.raises(ArchiveError, match="disk full"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "ok.txt").read_bytes() == b"ok"
    assert not (tmp_path / "out" / "big.bin").exists()  # no truncated member left behind
    assert not (tmp_path / "out" / ".extracted-a.tar").exists()


def test_member_with_an_out_of_range_mtime_is_extracted(tmp_path):
    archive = tmp_path / "t.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("far_future.txt")
        info.mtime, info.size = 2 ** 80, 3
        tar.addfile(info, io.BytesIO(b"abc"))
    out = extract_archive(archive, tmp_path / "out", progress=False)
    assert (out / "far_future.txt").read_bytes() == b"abc"
