"""The offline corpus: .deb parsing and safe extraction, speaker splits, packing (fake packages)."""
import io
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioup.data.dataset import read_filelist
from audioup.data.debian import DebError, DebPackage, apt_download, extract_deb, read_ar_members
from audioup.data.archive import ArchiveError
from audioup.data.download import file_checksum
from audioup.data.offline import (FESTVOX_WAV, FILLETS_SCRIPT, FILLETS_SOUND, Item, OfflineCorpus,
                                  OfflineDataError,
                                  convert_items, festvox_items, fillets_items, fillets_speakers,
                                  split_items)
from audioup.data.pack import pack_subset

RATE = 22050


def _tar_xz(entries) -> bytes:
    """entries: (name, bytes | None for a dir | ('link', target) | ('mode', data, mode))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(data, tuple) and data[0] == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tar.addfile(info)
            else:
                mode = 0o644
                if isinstance(data, tuple):
                    _, data, mode = data
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_deb(path: Path, entries) -> Path:
    """A minimal Debian package: ar archive with debian-binary, control.tar.xz, data.tar.xz."""
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", _tar_xz([("./control", b"Package: x\n")])),
               ("data.tar.xz", _tar_xz(entries))]
    with open(path, "wb") as f:
        f.write(b"!<arch>\n")
        for name, data in members:
            f.write(f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode())
            f.write(data + (b"\n" if len(data) % 2 else b""))
    return path


def _ogg_bytes(seconds=0.3, rate=22050, freq=220.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def test_ar_members_and_extraction(tmp_path):
    deb = make_deb(tmp_path / "pkg_1_all.deb", [("./", None), ("./usr/", None), ("./usr/a.txt", b"hello"),
                                                 ("./usr/run", ("mode", b"#!", 0o4755)),
                                                 ("./usr/link", ("link", "a.txt"))])
    members = read_ar_members(deb)
    assert list(members) == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    out = extract_deb(deb, tmp_path / "x")
    assert (out / "usr/a.txt").read_bytes() == b"hello"
    assert (out / "usr/link").resolve() == (out / "usr/a.txt").resolve()
    assert not (out / "usr/run").stat().st_mode & stat.S_ISUID  # setuid stripped
    (out / "usr/a.txt").write_bytes(b"changed")
    extract_deb(deb, tmp_path / "x")  # marker: a second call does nothing
    assert (out / "usr/a.txt").read_bytes() == b"changed"


@pytest.mark.parametrize("entry", [("../evil", b"x"), ("/abs/evil", b"x"), ("./usr/l", ("link", "../../../etc/passwd")),
                                   ("./usr/l", ("link", "/etc/passwd"))])
def test_unsafe_deb_members_are_refused(tmp_path, entry):
    deb = make_deb(tmp_path / "bad_1_all.deb", [("./usr/", None), entry])
    with pytest.raises(ArchiveError, match="refusing"):
        extract_deb(deb, tmp_path / "x")
    assert not (tmp_path / "evil").exists()


def test_not_a_deb_and_truncated(tmp_path):
    (tmp_path / "a.deb").write_bytes(b"PK\x03\x04 not ar")
    with pytest.raises(ArchiveError, match="not a Debian package"):
        read_ar_members(tmp_path / "a.deb")
    deb = make_deb(tmp_path / "t_1_all.deb", [("./a", b"x" * 1000)])
    (tmp_path / "cut.deb").write_bytes(deb.read_bytes()[:-200])
    with pytest.raises(ArchiveError, match="truncated|past the end"):
        read_ar_members(tmp_path / "cut.deb")


def test_apt_download_missing_apt_and_checksums(tmp_path, monkeypatch):
    pkg = DebPackage("pkg", "1", "0" * 64, 10, "MIT")
    with monkeypatch.context() as m:
        m.setenv("PATH", str(tmp_path / "nowhere"))
        with pytest.raises(DebError, match="apt-get not found.*pkg_1_all.deb"):
            apt_download(pkg, tmp_path / "debs")
    # a fake apt-get that "downloads" a file: right checksum accepted, wrong one removed
    deb = make_deb(tmp_path / "src.deb", [("./a", b"x")])
    fake = tmp_path / "apt-get"
    fake.write_text(f"#!/bin/sh\ncp {deb} \"$(echo $2 | cut -d= -f1)_1_all.deb\"\n")
    fake.chmod(0o755)
    good = DebPackage("pkg", "1", file_checksum(deb), deb.stat().st_size, "MIT")
    assert apt_download(good, tmp_path / "debs", apt=str(fake)).is_file()
    with pytest.raises(DebError, match="sha256 .* is not the recorded"):
        apt_download(pkg, tmp_path / "debs2", apt=str(fake))
    assert not list((tmp_path / "debs2").glob("*.deb"))
    failing = tmp_path / "apt-fail"
    failing.write_text("#!/bin/sh\necho 'E: Unable to locate package pkg' >&2\nexit 100\n")
    failing.chmod(0o755)
    with pytest.raises(DebError, match="Unable to locate package.*apt-get update"):
        apt_download(pkg, tmp_path / "debs3", apt=str(failing))


LUA = '''
dialogId("a-1", "font_small", "Hi.")
dialogStr("Ahoj.")
dialogId("a-2", "font_big", "Hello.")
dialogStr("Nazdar.")
dialogId("a-3", "font_parrot", "Polly.")
dialogId("fx", "", "")
'''


def _fake_tree(root: Path):
    (root / FILLETS_SCRIPT / "lvl").mkdir(parents=True)
    (root / FILLETS_SCRIPT / "lvl" / "dialogs_cs.lua").write_text(LUA, encoding="utf-8")
    sound = root / FILLETS_SOUND / "lvl" / "cs"
    sound.mkdir(parents=True)
    for i, name in enumerate(["a-1", "a-2", "a-3", "fx", "unknown"]):
        (sound / f"{name}.ogg").write_bytes(_ogg_bytes(freq=200 + 50 * i))
    wav = root / FESTVOX_WAV
    wav.mkdir(parents=True)
    for i in range(10):
        sf.write(wav / f"s{i:03d}.wav", np.full(1600, 0.1, dtype=np.float32), 16000)


def test_fillets_speakers_and_split_by_speaker(tmp_path):
    _fake_tree(tmp_path)
    assert fillets_speakers(tmp_path / FILLETS_SCRIPT) == {"a-1": "small", "a-2": "big", "a-3": "parrot"}
    items, skipped = fillets_items(tmp_path)
    assert sorted(i.uid for i in items) == ["lvl/a-1", "lvl/a-2", "lvl/a-3"]
    assert len(skipped) == 2 and all("no character" in s for s in skipped)
    splits = split_items(items, ["parrot"], n_val=1)
    assert [i.speaker for i in splits["test"]] == ["parrot"]
    assert "parrot" not in {i.speaker for i in splits["train"] + splits["val"]}
    assert len(splits["val"]) == 1 and len(splits["train"]) == 1
    with pytest.raises(OfflineDataError, match="held-out speaker.*nobody"):
        split_items(items, ["nobody"])
    fest = split_items(festvox_items(tmp_path), n_val=2, n_test=3)
    keys = [{i.uid for i in fest[s]} for s in ("train", "val", "test")]
    assert [len(k) for k in keys] == [5, 2, 3] and not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    corpus = OfflineCorpus("speech", tmp_path, RATE, {}, {}, speakers={
        s: sorted({i.speaker for i in splits[s] + fest[s]}) for s in splits})
    assert corpus.unseen() == ["parrot"]  # festvox's speaker has held-out sentences, not held out itself
    again = split_items(list(reversed(festvox_items(tmp_path))), n_val=2, n_test=3)
    assert {i.uid for i in again["test"]} == keys[2]  # independent of order


def test_convert_and_pack(tmp_path):
    _fake_tree(tmp_path)
    items = festvox_items(tmp_path)[:4] + [Item("bad", "x", "b", tmp_path / "missing.ogg")]
    done, errors = convert_items(items, tmp_path / "c" / "wavs", 22050, progress=False)
    assert len(done) == 4 and len(errors) == 1 and "missing.ogg" in errors[0]
    wav, seconds = done[items[0]]
    assert sf.info(wav).samplerate == 22050 and seconds == pytest.approx(0.1, abs=1e-3)
    corpus = tmp_path / "c"
    files = [done[i][0] for i in items[:4]]
    for split, chosen in [("train", files[:2]), ("val", files[2:3]), ("test", files[3:])]:
        (corpus / f"{split}.txt").write_text("".join(f"{p.relative_to(corpus)}\n" for p in chosen))
    packed = pack_subset(corpus, tmp_path / "p", max_minutes=0.1 / 60 * 1.5, fmt="flac", log=lambda s: None)
    assert packed.counts == {"test": 1, "val": 1, "train": 1}  # train stops at 1.5 files' worth
    back = read_filelist(tmp_path / "p" / "train.txt")
    source = corpus / back[0].relative_to(tmp_path / "p" / "train").with_suffix(".wav")
    assert back[0].suffix == ".flac" and np.array_equal(sf.read(back[0])[0], sf.read(source)[0])  # lossless
    with pytest.raises(Exception, match="held-out test set alone exceeds"):
        pack_subset(corpus, tmp_path / "q", fmt="ogg", max_mib=1e-4, log=lambda s: None)
    with pytest.raises(Exception, match="own folder"):
        pack_subset(corpus, corpus, log=lambda s: None)


def test_pack_only_cli_needs_a_size_and_points_to_the_script(tmp_path, data_script, capsys):
    from audioup.data.dataset import DataError

    script = data_script("prepare_offline")
    with pytest.raises(SystemExit) as stop:  # it used to pack nothing and exit 0
        script.main(["--out", str(tmp_path), "--pack-only"])
    assert stop.value.code == 2 and "--max-minutes" in capsys.readouterr().err
    # a recipe's missing offline filelist says how to make it
    with pytest.raises(DataError, match="prepare_offline.py --out .*offline --corpus music"):
        read_filelist(tmp_path / "offline" / "music" / "train.txt")


def test_debian_shaped_package_links_extract(tmp_path):
    # fillets-ng-data's links: a doc folder pointing at a sibling package's, fonts three levels up (dangling)
    deb = make_deb(tmp_path / "fillets-ng-data_1_all.deb", [
        ("./usr/share/doc/fillets-ng-data/html/", None),
        ("./usr/share/doc/fillets-ng-data/html/index.html", b"<html>"),
        ("./usr/share/doc/fillets-ng/html", ("link", "../fillets-ng-data/html")),
        ("./usr/share/games/fillets-ng/font/font_menu.ttf",
         ("link", "../../../fonts/truetype/freefont/FreeSansBold.ttf")),
        ("./usr/share/games/fillets-ng/font/font_console.ttf",
         ("link", "../../../fonts/truetype/freefont/FreeSansBold.ttf"))])
    out = extract_deb(deb, tmp_path / "x")
    assert (out / "usr/share/doc/fillets-ng/html/index.html").read_bytes() == b"<html>"
    font = out / "usr/share/games/fillets-ng/font/font_menu.ttf"
    assert font.is_symlink() and not font.exists()
    # beside them, a link that leaves is still refused
    bad = make_deb(tmp_path / "bad_1_all.deb", [("./usr/share/doc/b/html", ("link", "../../../../../etc"))])
    with pytest.raises(ArchiveError, match="points outside"):
        extract_deb(bad, tmp_path / "y")


def test_stale_temporaries_of_a_killed_extraction_are_removed(tmp_path):
    import os
    import subprocess

    out = tmp_path / "x"
    proc = subprocess.Popen(["true"])
    proc.wait()
    stale = out / f".audioup-deb-{proc.pid}-abcd"
    legacy = out / "tmpk2j3h4"  # the name of the earlier code's temporary folder
    mine = out / f".audioup-deb-{os.getpid()}-live"  # a running extraction's: kept
    for folder in (stale, legacy, mine):
        folder.mkdir(parents=True)
        (folder / "festvox-ru_0.5+dfsg-6_all.data.tar.xz").write_bytes(b"x" * 1000)
    user = out / "tmpdata"
    user.mkdir()
    (user / "notes.txt").write_text("mine")  # not a data.tar copy: kept
    deb = make_deb(tmp_path / "pkg_1_all.deb", [("./a.txt", b"a")])
    extract_deb(deb, out)
    assert not stale.exists() and not legacy.exists()
    assert mine.exists() and (user / "notes.txt").exists() and (out / "a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("args,option", [(["--max-minutes", "-5"], "--max-minutes"),
                                         (["--max-minutes", "nan"], "--max-minutes"),
                                         (["--max-minutes", "0"], "--max-minutes"),
                                         (["--max-minutes", "1", "--eval-minutes", "-1"], "--eval-minutes"),
                                         (["--max-minutes", "1", "--max-mib", "inf"], "--max-mib")])
def test_pack_sizes_must_be_positive_numbers(tmp_path, data_script, capsys, args, option):
    script = data_script("prepare_offline")
    with pytest.raises(SystemExit) as stop:  # -5 packed nothing and nan everything, with exit 0
        script.main(["--out", str(tmp_path), "--pack-only", *args])
    assert stop.value.code == 2 and f"argument {option}" in capsys.readouterr().err
    from audioup.data.dataset import DataError
    with pytest.raises(DataError, match="--eval-minutes -1: expected a positive number"):
        pack_subset(tmp_path, tmp_path / "p", eval_minutes=-1, log=lambda s: None)


def _packable_corpus(root: Path, n: int = 6, seconds: float = 0.5) -> Path:
    (root / "wavs").mkdir(parents=True)
    files = []
    for i in range(n):
        path = root / "wavs" / f"c{i}.wav"
        sf.write(path, 0.1 * np.sin(np.arange(int(seconds * RATE)) * (0.05 + 0.01 * i)).astype(np.float32), RATE)
        files.append(path)
    (root / "train.txt").write_text("".join(f"{p.relative_to(root)}\n" for p in files[:4]))
    (root / "val.txt").write_text(f"{files[4].relative_to(root)}\n")
    (root / "test.txt").write_text(f"{files[5].relative_to(root)}\n")
    return root


def test_repack_smaller_removes_the_earlier_packs_audio(tmp_path):
    corpus = _packable_corpus(tmp_path / "c")
    out = tmp_path / "p"
    big = pack_subset(corpus, out, max_minutes=10, log=lambda s: None)
    assert big.counts["train"] == 4
    small = pack_subset(corpus, out, max_minutes=1.2 / 60, log=lambda s: None)
    assert small.counts["train"] == 2
    on_disk = sorted(p for p in out.rglob("*") if p.is_file() and p.suffix == ".flac")
    listed = sorted(read_filelist(out / "train.txt") + read_filelist(out / "val.txt") + read_filelist(out / "test.txt"))
    assert on_disk == listed  # 30 files were left for 9 listed
    assert sum(p.stat().st_size for p in on_disk) / (1 << 20) == pytest.approx(small.mib, abs=1e-6)


def test_pack_refuses_a_folder_that_is_not_a_packed_subset(tmp_path):
    from audioup.data.dataset import DataError
    corpus = _packable_corpus(tmp_path / "c")
    home = tmp_path / "home"
    (home / "train").mkdir(parents=True)
    (home / "train" / "song.flac").write_bytes(b"mine")
    (home / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="notes.txt, so it is not a packed subset"):
        pack_subset(corpus, home, log=lambda s: None)
    assert (home / "train" / "song.flac").read_bytes() == b"mine"
