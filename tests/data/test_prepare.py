"""Dataset preparation against a local server serving small fake LJSpeech / VCTK / LibriTTS archives."""
from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioup.data.dataset import read_filelist
from audioup.data.prepare import (DATASETS, hash_select, prepare_libritts, prepare_ljspeech, prepare_vctk,
                                  read_id_list)

REPO = Path(__file__).resolve().parents[2]


def _audio_bytes(rate, seconds=0.1, fmt="WAV", seed=0):
    buf = io.BytesIO()
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(rate * seconds)).astype(np.float32)
    sf.write(buf, x, rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def _tarball(members, mode="w:bz2"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


LJ_IDS = [f"LJ001-{i:04d}" for i in range(1, 11)]


@pytest.fixture
def lj_archive():
    members = {f"LJSpeech-1.1/wavs/{i}.wav": _audio_bytes(22050, seed=k) for k, i in enumerate(LJ_IDS)}
    members["LJSpeech-1.1/metadata.csv"] = "".join(f"{i}|text|text\n" for i in LJ_IDS).encode()
    return _tarball(members)


def test_ljspeech_download_extract_and_filelists(http_server, lj_archive, tmp_path):
    url, state = http_server
    state.files["/LJSpeech-1.1.tar.bz2"] = lj_archive
    result = prepare_ljspeech(tmp_path, url=f"{url}/LJSpeech-1.1.tar.bz2", checksum=_sha(lj_archive),
                              n_val=3, progress=False)
    assert result.counts == {"train": 7, "val": 3, "test": 3}
    train, val = read_filelist(tmp_path / "train.txt"), read_filelist(tmp_path / "val.txt")
    assert all(p.is_file() for p in train + val)
    assert {p.stem for p in val} == set(hash_select(LJ_IDS, 3))
    assert not {p.stem for p in train} & {p.stem for p in val}
    assert (tmp_path / "test.txt").read_text() == (tmp_path / "val.txt").read_text()
    lines = (tmp_path / "train.txt").read_text().splitlines()
    assert lines == sorted(lines) and lines[0].startswith("LJSpeech-1.1/wavs/")  # relative to the list
    # a second run reuses the extraction and the verified archive: no new request
    prepare_ljspeech(tmp_path, url=f"{url}/LJSpeech-1.1.tar.bz2", n_val=3, progress=False)
    assert len(state.requests) == 1


def test_ljspeech_filelists_load_in_training_dataset(http_server, lj_archive, tmp_path):
    from audioup.data.dataset import collect_files

    url, state = http_server
    state.files["/LJSpeech-1.1.tar.bz2"] = lj_archive
    prepare_ljspeech(tmp_path, url=f"{url}/LJSpeech-1.1.tar.bz2", checksum=_sha(lj_archive), n_val=2,
                     progress=False)
    files = collect_files(filelist=str(tmp_path / "train.txt"))
    assert len(files) == 8 and all(f.is_file() for f in files)


def test_ljspeech_val_list_gives_exact_split(http_server, lj_archive, tmp_path):
    url, state = http_server
    state.files["/LJSpeech-1.1.tar.bz2"] = lj_archive
    val_list = tmp_path / "validation.txt"
    val_list.write_text("LJ001-0004|Some text.|Some text.\nLJ001-0009|x|x\n")
    result = prepare_ljspeech(tmp_path / "d", url=f"{url}/LJSpeech-1.1.tar.bz2", checksum=_sha(lj_archive),
                              val_list=val_list, progress=False)
    assert [p.stem for p in read_filelist(result.filelists["val"])] == ["LJ001-0004", "LJ001-0009"]
    assert result.counts["train"] == 8
    val_list.write_text("LJ009-9999|missing|missing\n")
    with pytest.raises(ValueError, match="1 ids not in"):
        prepare_ljspeech(tmp_path / "d", val_list=val_list, progress=False)


def test_ljspeech_resampling_and_bad_file(http_server, tmp_path):
    url, state = http_server
    members = {f"LJSpeech-1.1/wavs/{i}.wav": _audio_bytes(22050, seed=k) for k, i in enumerate(LJ_IDS[:4])}
    members["LJSpeech-1.1/wavs/LJ001-0099.wav"] = b"this is not audio"
    data = _tarball(members)
    state.files["/lj.tar.bz2"] = data
    result = prepare_ljspeech(tmp_path, sample_rate=16000, url=f"{url}/lj.tar.bz2", checksum=_sha(data),
                              n_val=1, progress=False)
    assert len(result.errors) == 1 and "LJ001-0099.wav" in result.errors[0]
    assert "LJ001-0099" in result.summary()
    files = read_filelist(result.filelists["train"]) + read_filelist(result.filelists["val"])
    assert len(files) == 4
    for f in files:
        info = sf.info(str(f))
        assert "wavs_16000" in f.parts and info.samplerate == 16000
        assert abs(info.frames - 1600) <= 1  # 0.1 s


def test_no_download_without_archive_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="downloading is off.*LJSpeech-1.1.tar.bz2"):
        prepare_ljspeech(tmp_path, download=False, progress=False)


def test_vctk_unseen_test_speakers_and_24k(http_server, tmp_path):
    url, state = http_server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for s in range(225, 233):
            for u in range(1, 4):
                for mic in ("mic1", "mic2"):
                    zf.writestr(f"wav48_silence_trimmed/p{s}/p{s}_{u:03d}_{mic}.flac",
                                _audio_bytes(48000, 0.05, "FLAC", seed=s * 10 + u))
    data = buf.getvalue()
    state.files["/VCTK-Corpus-0.92.zip"] = data
    result = prepare_vctk(tmp_path, url=f"{url}/VCTK-Corpus-0.92.zip", checksum=_sha(data), n_val=2,
                          n_test_speakers=2, progress=False)
    assert result.counts == {"train": 16, "val": 2, "test": 6}
    spk = {k: {p.name.split("_")[0] for p in read_filelist(v)} for k, v in result.filelists.items()}
    assert len(spk["test"]) == 2 and not spk["test"] & (spk["train"] | spk["val"])
    for f in read_filelist(result.filelists["train"]):
        assert f.suffix == ".wav" and f.name.endswith("_mic1.wav") and sf.info(str(f)).samplerate == 24000


def test_libritts_subsets(http_server, tmp_path):
    url, state = http_server
    checksums = {}
    for k, (subset, n) in enumerate([("train-clean-100", 6), ("dev-clean", 4), ("test-clean", 3)]):
        members = {f"LibriTTS/{subset}/19/198/19_198_{i:06d}_000000.wav": _audio_bytes(24000, 0.05, seed=k * 9 + i)
                   for i in range(n)}
        state.files[f"/{subset}.tar.gz"] = data = _tarball(members, "w:gz")
        checksums[subset] = _sha(data)
    result = prepare_libritts(tmp_path, urls={s: f"{url}/{s}.tar.gz" for s in checksums}, checksums=checksums,
                              n_val=2, progress=False)
    assert result.counts == {"train": 6, "val": 2, "test": 3}
    assert all("/train-clean-100/" in p.as_posix() for p in read_filelist(result.filelists["train"]))
    with pytest.raises(ValueError, match="unknown LibriTTS subset"):
        prepare_libritts(tmp_path, subsets=["train-clean-999"], progress=False)


def test_hash_select_is_order_independent_and_stable():
    ids = [f"id{i}" for i in range(50)]
    a = hash_select(ids, 5)
    assert a == hash_select(list(reversed(ids)), 5) and len(a) == 5 and a == sorted(a)
    assert set(hash_select(ids, 5)) <= set(hash_select(ids, 10))  # growing n only adds items
    assert hash_select(ids, 5, salt="other") != a
    with pytest.raises(ValueError):
        hash_select(ids, 51)


def test_read_id_list_formats(tmp_path):
    f = tmp_path / "l.txt"
    f.write_text("# comment\nLJ001-0001|a|b\nwavs/LJ001-0002.wav\n\nLJ001-0003\n")
    assert read_id_list(f) == ["LJ001-0001", "LJ001-0002", "LJ001-0003"]


def test_registry_records_real_sources():
    lj = DATASETS["ljspeech"].archives["LJSpeech-1.1"]
    assert lj.url == "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2" and lj.checksum.startswith("sha256:")
    assert all(a.url.startswith("https://www.openslr.org/resources/60/") for a in DATASETS["libritts"].archives.values())
    assert "datashare.ed.ac.uk" in DATASETS["vctk"].archives["VCTK-Corpus-0.92"].url


def test_prepare_ljspeech_script(http_server, lj_archive, tmp_path, closed_port, data_script, capsys):
    url, state = http_server
    state.files["/LJSpeech-1.1.tar.bz2"] = lj_archive
    main = data_script("prepare_ljspeech").main
    code = main([str(tmp_path / "lj"), "--url", f"{url}/LJSpeech-1.1.tar.bz2", "--checksum", _sha(lj_archive),
                 "--n-val", "2", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "train 8, val 2, test 2" in out.out
    assert len((tmp_path / "lj" / "train.txt").read_text().splitlines()) == 8
    code = main([str(tmp_path / "off"), "--url", f"http://127.0.0.1:{closed_port}/LJSpeech-1.1.tar.bz2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "offline" in err


def test_prepare_libritts_script_checksum_failure(http_server, tmp_path, data_script, capsys):
    url, state = http_server
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        state.files[f"/{subset}.tar.gz"] = _tarball({f"LibriTTS/{subset}/1/2/1_2_3.wav": _audio_bytes(24000)}, "w:gz")
    code = data_script("prepare_libritts").main([str(tmp_path), "--base-url", url, "--quiet"])
    err = capsys.readouterr().err
    # the recorded checksums are the real archives', so the fake one must be rejected
    assert code == 1 and "checksum mismatch" in err and "train-clean-100.tar.gz" in err
    assert not list((tmp_path / "downloads").glob("*.tar.gz*"))


def test_scripts_refuse_bad_settings_before_downloading(http_server, tmp_path, data_script, capsys):
    url, state = http_server
    state.files["/VCTK-Corpus-0.92.zip"] = b"never fetched"
    vctk = data_script("prepare_vctk").main
    runs = [(vctk, ["--checksum", "md5:zz"], "bad checksum 'md5:zz'"),
            (vctk, ["--sample-rate", "-1"], "sample rate -1 Hz"),
            (vctk, ["--n-test-speakers", "0"], "n-test-speakers 0: must be >= 1")]
    for main, extra, message in runs:
        code = main([str(tmp_path / "v"), "--url", f"{url}/VCTK-Corpus-0.92.zip", "--quiet", *extra])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("error: ") and message in err, err
    assert state.requests == []  # refused before any transfer
    code = data_script("build_corpus").main(["--out", str(tmp_path / "c"), "--sample-rate", "0", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "sample rate 0 Hz" in err and not (tmp_path / "c").exists()


def test_prepare_vctk_script_on_a_zip_with_a_symlink(http_server, tmp_path, data_script, capsys):
    url, state = http_server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("wav48_silence_trimmed/p225")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc")
        zf.writestr("wav48_silence_trimmed/p225/p225_001_mic1.flac", _audio_bytes(48000, 0.05, "FLAC"))
    state.files["/VCTK-Corpus-0.92.zip"] = data = buf.getvalue()
    code = data_script("prepare_vctk").main([str(tmp_path), "--url", f"{url}/VCTK-Corpus-0.92.zip",
                                             "--checksum", _sha(data), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "is a symbolic link; refusing" in err
