"""measure with odd names and odd folder entries: link loops, non-UTF-8 bytes, FIFOs, newlines,
unreadable subfolders, and --json/--csv/--plot outputs that are devices, links or cannot be written."""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat

import pytest

from audioup.audio.io import audio_info, find_audio_files, load_audio, read_blocks
from audioup.cli import main

ARGS = ["--quiet", "--no-optional", "--hop", "256"]


def test_a_link_loop_is_an_error_record_without_plot(tmp_path, capsys):
    (tmp_path / "a.wav").symlink_to("b.wav")
    (tmp_path / "b.wav").symlink_to("a.wav")
    rc = main(["measure", str(tmp_path / "a.wav"), *ARGS])
    out, err = capsys.readouterr()
    assert rc == 1 and "Traceback" not in err
    assert f"error: {tmp_path / 'a.wav'}: symbolic link loop" in err


def test_a_name_that_is_not_utf8_is_read(tmp_path, arctic_files):
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff\xfe.wav")
    shutil.copyfile(arctic_files[0], bad)
    name = os.fsdecode(bad)  # what os.listdir / argv give: surrogate escapes
    assert audio_info(name).frames > 0
    assert load_audio(name).samples.size == audio_info(name).frames
    assert sum(b.size for b in read_blocks(name, 4096)) == audio_info(name).frames
    assert find_audio_files([tmp_path]) == [type(tmp_path)(name)]


def test_a_folder_with_odd_entries_gives_a_record_for_each(tmp_path, arctic_files, monkeypatch, capsys):
    shutil.copyfile(arctic_files[0], tmp_path / "good.wav")
    shutil.copyfile(arctic_files[0], tmp_path / "new\nline.wav")
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "loop.wav").symlink_to("loop.wav")
    (tmp_path / "dangling.wav").symlink_to("gone.wav")
    (tmp_path / "locked").mkdir()
    shutil.copyfile(arctic_files[0], tmp_path / "locked" / "hidden.wav")
    real_scandir = os.scandir

    def scandir(path="."):  # as a user without read permission on locked/ (the suite runs as root)
        if os.fspath(path).endswith("locked"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    rc = main(["measure", str(tmp_path), *ARGS, "--json", str(tmp_path / "o.json")])
    out, err = capsys.readouterr()
    assert rc == 1 and "Traceback" not in err
    records = {os.path.basename(r["path"]): r for r in json.loads((tmp_path / "o.json").read_text())}
    assert records["good.wav"]["error"] is None and records["new\nline.wav"]["error"] is None
    assert "a FIFO" in records["pipe.wav"]["error"]
    assert "symbolic link loop" in records["loop.wav"]["error"]
    assert "dangling symbolic link" in records["dangling.wav"]["error"]
    assert "cannot read this folder (Permission denied)" in records["locked"]["error"]
    table = out.split("\n")
    assert any("new\\nline.wav" in line for line in table)  # the name escaped: one table row
    assert not any(line.startswith("line.wav") for line in table)


@pytest.mark.parametrize("make", ["device", "fifo_reader", "stdout_link"])
def test_json_and_csv_onto_streams_write_into_them(tmp_path, arctic_files, make, capfd):
    import threading

    target, got = tmp_path / "out", []
    if make == "device":
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("mknod needs root")
    elif make == "fifo_reader":
        os.mkfifo(target)
        reader = threading.Thread(target=lambda: got.append(open(target, "rb").read()), daemon=True)
        reader.start()
    else:
        target.symlink_to("/proc/self/fd/1")
    before = os.lstat(target).st_mode
    flag = "--csv" if make == "stdout_link" else "--json"
    rc = main(["measure", str(arctic_files[0]), *ARGS, flag, str(target), "--force"])
    assert rc == 0 and os.lstat(target).st_mode == before  # never replaced
    if make == "fifo_reader":
        reader.join(timeout=10)
        assert json.loads(got[0])[0]["tonal_score_db"] is not None  # one complete JSON list
    if make == "stdout_link":
        assert capfd.readouterr().out.startswith("path,error,warnings")


def test_json_through_a_link_to_a_file_is_refused_and_the_file_kept(tmp_path, arctic_files, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "o.csv").symlink_to(victim)
    rc = main(["measure", str(arctic_files[0]), *ARGS, "--csv", str(tmp_path / "o.csv"), "--force"])
    assert rc == 1 and victim.read_text() == "keep" and (tmp_path / "o.csv").is_symlink()
    assert "symbolic link to a regular file" in capsys.readouterr().err


def test_plot_that_is_a_file_is_refused_up_front(tmp_path, arctic_files, capsys):
    (tmp_path / "p").write_text("x")
    rc = main(["measure", str(arctic_files[0]), *ARGS, "--plot", str(tmp_path / "p")])
    assert rc == 1 and "--plot" in capsys.readouterr().err and (tmp_path / "p").read_text() == "x"


def test_plot_that_cannot_be_written_exits_1_and_keeps_the_numbers(tmp_path, arctic_files, monkeypatch,
                                                                   capsys):
    import audioup.metrics.measure as measure_mod

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "p" / "x.png"))

    monkeypatch.setattr(measure_mod, "plot_tonal", full)
    rc = main(["measure", str(arctic_files[0]), *ARGS, "--plot", str(tmp_path / "p"),
               "--json", str(tmp_path / "o.json")])
    out, err = capsys.readouterr()
    assert rc == 1 and "plot failed" in err and "No space left on device" in err
    assert json.loads((tmp_path / "o.json").read_text())[0]["tonal_score_db"] is not None


def test_plot_on_a_read_only_folder_is_refused_before_measuring(tmp_path, arctic_files, monkeypatch, capsys):
    import audioup.audio.fs as fs

    def read_only(**kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    monkeypatch.setattr(fs.tempfile, "mkstemp", read_only)
    rc = main(["measure", str(arctic_files[0]), *ARGS, "--plot", str(tmp_path / "p")])
    out, err = capsys.readouterr()
    assert rc == 1 and "Read-only file system" in err and "score dB" not in out


def test_the_folder_walk_finds_what_rglob_found(tmp_path):
    """The walk that reports skipped entries lists the same files, in the same order, as before."""
    for rel in ("b.wav", "A.WAV", "sub/c.flac", "sub/deep/d.wav", "sub/notes.txt", ".hidden/e.wav", "z/y.mp3"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "linked").symlink_to(tmp_path / "sub")  # a link to a folder: not followed, by either
    (tmp_path / "f.wav").symlink_to(tmp_path / "b.wav")  # a link to a file: kept, by both
    expected = sorted(f for f in tmp_path.rglob("*") if f.is_file() and f.suffix.lower() in
                      (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3"))
    skipped = []
    assert find_audio_files([tmp_path], skipped=skipped) == expected and skipped == []
