"""atomic_write never replaces what is not a regular file: a stream is written into, the rest refused."""
from __future__ import annotations

import errno
import os
import stat
import threading

import pytest

from audioup.audio.fs import atomic_write, file_in_the_way, probe_folder, stream_destination


def _mknod_null(path):
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the kernel's /dev/null
    except PermissionError:
        pytest.skip("mknod needs root")
    return path


def test_a_device_node_is_written_into_and_stays_a_device(tmp_path):
    node = _mknod_null(tmp_path / "null")
    assert stream_destination(node) is True
    atomic_write(node, '{"a": 1}')
    atomic_write(node, lambda f: f.write(b"bytes"))
    assert stat.S_ISCHR(os.lstat(node).st_mode)  # before the fix: a regular file holding the JSON
    assert os.listdir(tmp_path) == ["null"]  # no temporary file left beside it


def test_a_fifo_is_written_into_so_its_reader_gets_the_content(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    atomic_write(fifo, "[1, 2, 3]\n")
    reader.join(timeout=10)
    assert got == [b"[1, 2, 3]\n"]  # before the fix the FIFO was replaced and the reader got nothing
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_link_to_our_stdout_writes_into_stdout_and_the_link_stays(tmp_path, capfd):
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")  # what /dev/stdout is
    print("before", flush=True)
    atomic_write(link, "through the link\n")
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert capfd.readouterr().out == "before\nthrough the link\n"  # in order, nothing overwritten


def test_a_link_to_a_file_is_neither_replaced_nor_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link to a regular file") as err:
        atomic_write(link, "new")
    assert err.value.filename == str(link)
    assert link.is_symlink() and victim.read_text() == "keep me"


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.symlink_to(p.parent / "nowhere"), "dangling symbolic link"),
    (lambda p: p.symlink_to(p), "Too many levels of symbolic links"),
    (lambda p: p.mkdir(), "is a folder"),
])
def test_other_destinations_are_refused_and_left_alone(tmp_path, make, problem):
    dest = tmp_path / "out.json"
    make(dest)
    before = os.lstat(dest)
    with pytest.raises(OSError, match=problem):
        atomic_write(dest, "x")
    assert os.lstat(dest).st_mode == before.st_mode and os.lstat(dest).st_ino == before.st_ino


def test_a_block_device_is_refused(tmp_path):
    node = tmp_path / "blk"
    try:
        os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    except PermissionError:
        pytest.skip("mknod needs root")
    with pytest.raises(OSError, match="block device"):
        atomic_write(node, "x")
    assert stat.S_ISBLK(os.lstat(node).st_mode)


def test_a_write_error_names_the_destination_not_the_temporary(tmp_path, monkeypatch):
    import audioup.audio.fs as fs

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as err:
        atomic_write(tmp_path / "a.json", lambda f: full())
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "a.json")
    monkeypatch.setattr(fs.tempfile, "mkstemp", lambda **k: (_ for _ in ()).throw(
        OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / ".b.json.x.tmp"))))
    with pytest.raises(OSError) as err:
        atomic_write(tmp_path / "b.json", "x")
    assert err.value.errno == errno.EROFS and err.value.filename == str(tmp_path / "b.json")
    assert os.listdir(tmp_path) == []


def test_probe_folder_and_file_in_the_way(tmp_path):
    (tmp_path / "f").write_text("x")
    assert file_in_the_way(tmp_path / "f" / "sub" / "deeper") == tmp_path / "f"
    assert file_in_the_way(tmp_path / "new" / "sub") is None
    assert probe_folder(tmp_path / "new" / "sub").is_dir()
    assert os.listdir(tmp_path / "new" / "sub") == []  # the probe file is gone
    with pytest.raises(OSError):
        probe_folder(tmp_path / "f" / "sub")
