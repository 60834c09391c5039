"""atomic_write: the usual file mode, the old file kept when a write fails, nothing left behind; figures too."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from audioup.audio import save_audio
from audioup.audio.fs import atomic_write, remove_stale_temporaries, save_figure


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_text_bytes_and_writer_get_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        a = atomic_write(tmp_path / "sub" / "a.txt", "héllo\n")
        b = atomic_write(tmp_path / "b.bin", b"\x00\x01")
        c = atomic_write(tmp_path / "c.json", lambda f: f.write('{"x": 1}'), text=True)
        w = save_audio(tmp_path / "w.wav", np.zeros(100, np.float32), 16000)
    finally:
        os.umask(old)
    assert a.read_text(encoding="utf-8") == "héllo\n" and b.read_bytes() == b"\x00\x01"
    assert c.read_text() == '{"x": 1}' and sf.info(str(w)).frames == 100
    for p in (a, b, c, w):
        assert p.stat().st_mode & 0o777 == 0o640, p  # 0o666 less the umask, not mkstemp's 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write(tmp_path / "r.md", "old")

    def half(f):
        f.write(b"new, half written")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(path, half)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["r.md"]


def test_remove_stale_temporaries_only_takes_matching_temporaries(tmp_path):
    for name in (".ckpt_00000002.pt.ab12.tmp", "ckpt_00000002.pt", ".other.x.tmp", "keep.tmp"):
        (tmp_path / name).write_text("x")
    removed = remove_stale_temporaries(tmp_path, "ckpt_*")
    assert [p.name for p in removed] == [".ckpt_00000002.pt.ab12.tmp"]
    assert sorted(os.listdir(tmp_path)) == [".other.x.tmp", "ckpt_00000002.pt", "keep.tmp"]


def test_save_figure_writes_atomically_with_matplotlibs_format_rules(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    png = save_figure(fig, tmp_path / "a.png", dpi=20)
    svg = save_figure(fig, tmp_path / "b.svg")
    bare = save_figure(fig, tmp_path / "c")  # as fig.savefig("c"): the default format is appended
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()
    assert bare == tmp_path / "c.png" and bare.read_bytes()[:4] == b"\x89PNG"
    assert (png.stat().st_mode & 0o777) == 0o666 & ~umask()

    old = atomic_write(tmp_path / "d.xyz", b"old")
    with pytest.raises(ValueError, match="xyz"):  # raised by savefig, inside the write
        save_figure(fig, old)
    assert old.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["a.png", "b.svg", "c.png", "d.xyz"]
