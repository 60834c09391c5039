"""``audioup measure`` and measure_file: records, bad input, outputs that keep what finished."""
import csv
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioup.cli import main
from audioup.metrics import RecordWriter, measure_file, measure_files


def _tone_speech(x, sr, level=0.02):
    t = np.arange(len(x)) / sr
    lines = sum(np.cos(2 * np.pi * k * sr / 256 * t) for k in (8, 16, 64))
    return (x + level * lines).astype(np.float32)


@pytest.fixture
def folder(tmp_path, arctic_files):
    """gen/ with good, odd and broken files; ref/ with the ground truth of two of them."""
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir(), ref.mkdir()
    x, sr = sf.read(arctic_files[0], dtype="float32")
    sf.write(ref / "a.wav", x, sr)
    sf.write(gen / "a.wav", _tone_speech(x, sr), sr)  # lines at predicted frequencies
    sf.write(ref / "same.wav", x, sr)
    sf.write(gen / "same.wav", x, sr)
    sf.write(gen / "stereo.wav", np.stack([x, 0.5 * x], axis=1), sr)
    (gen / "empty.wav").write_bytes(b"")
    (gen / "notes.wav").write_text("this is not audio\n")
    sf.write(gen / "short.wav", x[:1000], sr)
    bad = x.copy()
    bad[5000] = np.nan
    sf.write(gen / "nan.wav", bad, sr, subtype="FLOAT")
    whole = (ref / "a.wav").read_bytes()
    (gen / "cut.wav").write_bytes(whole[: len(whole) * 2 // 3])  # truncated: still measurable
    (gen / "header_only.wav").write_bytes(whole[:30])  # truncated inside the header
    return gen, ref


def _by_name(records):
    return {Path(r["path"]).name: r for r in records}


def test_cli_measures_a_folder_reports_each_bad_file_and_exits_nonzero(folder, tmp_path, capsys):
    gen, ref = folder
    js, cs = tmp_path / "out.json", tmp_path / "out.csv"
    rc = main(["measure", str(gen), "--factors", "8,8,2,2", "--reference", str(ref),
               "--json", str(js), "--csv", str(cs), "--no-optional", "--quiet"])
    assert rc == 1
    out, err = capsys.readouterr()
    recs = _by_name(json.loads(js.read_text()))
    assert set(recs) == {"a.wav", "same.wav", "stereo.wav", "empty.wav", "notes.wav", "short.wav",
                         "nan.wav", "cut.wav", "header_only.wav"}
    assert "empty" in recs["empty.wav"]["error"]
    assert "not a readable audio file" in recs["notes.wav"]["error"]
    assert "too short" in recs["short.wav"]["error"] and "4096" in recs["short.wav"]["error"]
    assert "NaN" in recs["nan.wav"]["error"]
    assert "not a readable audio file" in recs["header_only.wav"]["error"]
    for name in ("empty.wav", "notes.wav", "short.wav", "nan.wav", "header_only.wav"):
        assert recs[name]["error"].startswith(str(gen / name)), recs[name]["error"]
        assert name in err
    # measured despite the others
    assert recs["cut.wav"]["error"] is None and any("truncated" in w["message"] for w in recs["cut.wav"]["warnings"])
    assert recs["stereo.wav"]["error"] is None and recs["stereo.wav"]["channels"] == 2
    assert any("mixed 2 channels" in w["message"] for w in recs["stereo.wav"]["warnings"])
    assert any("no reference" in w["message"] for w in recs["stereo.wav"]["warnings"])
    # reference metrics: ideal for the identical file, excess tonality for the one with lines
    same, a = recs["same.wav"], recs["a.wav"]
    assert same["mrstft"] == pytest.approx(0, abs=1e-6) and same["mel_l1"] == pytest.approx(0, abs=1e-6)
    assert same["excess_tonal_db"] == pytest.approx(0, abs=1e-6)
    assert a["excess_tonal_db"] > 0.5 and a["mrstft"] > 0 and a["lsd_db"] > 0  # 3 of 128 lines
    # a short pair: the excess from 4x overlapping frames, with its null spread
    assert 0 < same["excess_spread_db"] < 0.5 and a["excess_tonal_db"] > 3 * a["excess_spread_db"]
    assert a["excess_tonal_db"] != pytest.approx(a["tonal_score_db"] - a["reference_tonal_score_db"], abs=1e-3)
    assert a["tonal_max_db"] > same["tonal_max_db"] + 15
    assert {t["freq_hz"] for t in a["tones"][:3]} == {8 * 16000 / 256, 16 * 16000 / 256, 64 * 16000 / 256}
    assert a["tonal_score_db"] > same["tonal_score_db"]
    # CSV: one row per file, in the same order as the table
    rows = list(csv.DictReader(cs.open()))
    assert len(rows) == 9 and {Path(r["path"]).name for r in rows} == set(recs)
    assert "9 file(s): 4 measured, 5 failed" in out
    assert "ERROR: too short" in out


def test_measure_file_any_rate_from_8_to_96_khz(tmp_path):
    for sr in (8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000):
        t = np.arange(int(sr * 6)) / sr
        x = 0.05 * np.random.default_rng(sr).standard_normal(len(t)) + 0.2 * np.cos(2 * np.pi * 1000.7 * t)
        sf.write(tmp_path / f"x{sr}.wav", x, sr)
        rec = measure_file(tmp_path / f"x{sr}.wav", hop=256)
        assert rec["error"] is None and rec["sample_rate"] == sr
        assert rec["n_fft"] % 256 == 0
        assert len(rec["tones"]) == 16 and len(rec["per_layer"]) == 1
        freqs = [d["freq_hz"] for d in rec["detected"]]
        assert any(abs(f - 1000.7) < 1 for f in freqs), (sr, freqs)


def test_records_survive_an_interrupted_run(folder, tmp_path):
    gen, _ = folder
    js, cs = tmp_path / "r.json", tmp_path / "r.csv"
    seen = []

    def stop_after_two(rec):
        writer.add(rec)
        seen.append(rec)
        # on disk after each record, as a kill (no close) would leave them: complete and valid
        assert [r["path"] for r in json.loads(js.read_text())] == [r["path"] for r in seen]
        assert len(list(csv.DictReader(cs.open()))) == len(seen)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with RecordWriter(js, cs) as writer:
            measure_files([gen], hop=256, progress=False, on_record=stop_after_two, detect=False)
    assert len(json.loads(js.read_text())) == 2
    assert len(list(csv.DictReader(cs.open()))) == 2


def test_parallel_jobs_give_the_same_records(folder):
    gen, _ = folder
    files = [gen / "a.wav", gen / "notes.wav", gen / "stereo.wav"]
    one = measure_files(files, hop=256, progress=False)
    two = measure_files(files, hop=256, jobs=2, progress=False)
    assert [r["path"] for r in two] == [str(f) for f in files]
    for r1, r2 in zip(one, two):
        assert r1 == r2


def test_outputs_are_not_overwritten_without_force(folder, tmp_path, capsys):
    gen, _ = folder
    js = tmp_path / "exists.json"
    js.write_text("[]")
    assert main(["measure", str(gen / "a.wav"), "--json", str(js), "--quiet"]) == 1
    assert "use --force" in capsys.readouterr().err and js.read_text() == "[]"
    assert main(["measure", str(gen / "a.wav"), "--json", str(js), "--quiet", "--force"]) == 0
    assert json.loads(js.read_text())[0]["error"] is None


def test_bad_arguments_are_clean_errors(folder, capsys):
    gen, _ = folder
    assert main(["measure", str(gen / "a.wav"), "--factors", "8,x"]) == 1
    assert main(["measure", str(gen / "a.wav"), "--reference", str(gen / "nope")]) == 1
    err = capsys.readouterr().err
    assert "8,x" in err and "not a folder" in err
    with pytest.raises(SystemExit):
        main(["measure", str(gen / "a.wav"), "--factors", "8,8", "--hop", "64"])


def test_plot_writes_a_png(folder, tmp_path):
    gen, _ = folder
    plots = tmp_path / "plots"
    assert main(["measure", str(gen / "a.wav"), "--plot", str(plots), "--quiet", "--factors", "8,8,2,2"]) == 0
    png = plots / "a.wav.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_console_script(folder, tmp_path):
    gen, _ = folder
    exe = Path(sys.executable).with_name("audioup")
    if not exe.exists():
        exe = Path(shutil.which("audioup") or "")
    assert exe.is_file(), "the audioup console script is not installed"
    js = tmp_path / "cs.json"
    run = subprocess.run([str(exe), "measure", str(gen / "a.wav"), str(gen / "empty.wav"), "--hop", "256",
                          "--json", str(js)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 1, run.stderr
    assert "score dB" in run.stdout and "a.wav" in run.stdout
    assert "empty file" in run.stderr
    recs = json.loads(js.read_text())
    assert recs[0]["tonal_max_db"] > 20 and recs[0]["error"] is None and "empty" in recs[1]["error"]


def test_identical_reference_has_no_excess_at_any_n_fft(tmp_path):
    # the reference was scored at the default n_fft whatever --n-fft said: 0.11 dB "excess" here
    x = (0.1 * np.random.default_rng(0).standard_normal(16000 * 4)).astype(np.float32)
    sf.write(tmp_path / "gen.wav", x, 16000)
    sf.write(tmp_path / "ref.wav", x, 16000)
    rec = measure_file(tmp_path / "gen.wav", hop=256, reference=tmp_path / "ref.wav", n_fft=8192,
                       optional=(), detect=False)
    assert rec["error"] is None and rec["n_fft"] == 8192
    assert rec["excess_tonal_db"] == pytest.approx(0, abs=1e-6)


def test_hop_auto_and_the_json_contract(tmp_path, arctic_files, capsys):
    from audioup.audio import load_audio

    sr = 22050
    x = load_audio(arctic_files[0], sample_rate=sr).samples
    t = np.arange(len(x)) / sr
    comb = sum(np.cos(2 * np.pi * k * sr / 300 * t) for k in range(1, 150)) * 0.01 * np.sqrt(np.mean(x ** 2))
    sf.write(tmp_path / "h300.wav", (x + comb).astype(np.float32), sr)
    default = measure_file(tmp_path / "h300.wav")
    assert default["hop"] == 256 and default["estimated_hop"] == 300
    assert "hop_mismatch" in {w["code"] for w in default["warnings"]}
    auto = measure_file(tmp_path / "h300.wav", hop="auto")
    assert auto["hop"] == 300 and auto["tonal_score_db"] > default["tonal_score_db"] + 10
    for key in ("tonal_score_db", "tonal_max_db", "null_spread_db", "bands", "tones", "pause",
                "active_fraction", "estimated_hop", "warnings", "excess_tonal_db", "excess_spread_db", "path",
                "error"):
        assert key in auto, key
    assert {"lo_hz", "hi_hz", "score_db"} <= set(auto["bands"][0])
    assert {"freq_hz", "prominence_db", "level_db", "layer"} <= set(auto["tones"][0])
    js = tmp_path / "out.json"
    assert main(["measure", str(tmp_path / "h300.wav"), "--hop", "auto", "--json", str(js), "--quiet",
                 "--no-optional"]) == 0
    assert json.loads(js.read_text())[0]["hop"] == 300


def test_outputs_that_are_inputs_or_clash_are_refused(folder, tmp_path, capsys):
    gen, _ = folder
    a = gen / "a.wav"
    before = a.read_bytes()
    assert main(["measure", str(a), "--csv", str(a), "--force", "--quiet"]) == 1
    assert a.read_bytes() == before and "one of the inputs" in capsys.readouterr().err
    out = tmp_path / "o.json"
    assert main(["measure", str(a), "--json", str(out), "--csv", str(out), "--quiet"]) == 1
    assert "same file" in capsys.readouterr().err
    assert main(["measure", str(a), "--json", str(tmp_path), "--force", "--quiet"]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_silly_schedules_are_clean_errors(folder, capsys):
    a = str(folder[0] / "a.wav")
    assert main(["measure", a, "--factors=", "--quiet"]) == 1
    assert main(["measure", a, "--factors", "1", "--quiet"]) == 1
    assert main(["measure", a, "--n-fft", "0", "--quiet"]) == 1
    assert main(["measure", a, "--n-fft", "4097", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "--factors" in err and ">= 2" in err and ">= 16" in err and "multiple of the hop" in err
    with pytest.raises(SystemExit):
        main(["measure", a, "--hop", "1"])
    rec = measure_file(a, hop=100_000_000)  # refused from the header, before allocating a window
    assert "too short" in rec["error"]


def test_same_names_in_two_folders_get_two_plots_and_csv_keeps_input_order(folder, tmp_path):
    gen, ref = folder
    plots, cs = tmp_path / "plots", tmp_path / "o.csv"
    assert main(["measure", str(gen / "a.wav"), str(ref / "a.wav"), "--plot", str(plots), "--csv", str(cs),
                 "--quiet", "--jobs", "2"]) == 0
    assert len(list(plots.glob("*.png"))) == 2
    rows = list(csv.DictReader(cs.open()))
    assert [r["path"] for r in rows] == [str(gen / "a.wav"), str(ref / "a.wav")]


class _FullDisk:
    """A file opened by RecordWriter on a disk with room for ``capacity`` bytes of it."""

    def __init__(self, f, capacity):
        self.f, self.capacity = f, capacity

    def write(self, data):
        n = min(len(data), self.capacity - self.f.tell())
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(bytes(data[:n]))

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_full_disk_keeps_every_record_measured_and_the_outputs_complete(folder, tmp_path, monkeypatch,
                                                                          capsys):
    import audioup.metrics.writer as writer_mod

    gen, _ = folder
    js, cs = tmp_path / "out.json", tmp_path / "out.csv"

    def full(path, *a, **k):  # the final rewrite finds the disk full too
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(writer_mod, "atomic_write", full)
    monkeypatch.setattr(writer_mod, "open", lambda path, *a, **k: _FullDisk(
        open(path, *a, **k), 1200 if str(path).endswith(".csv") else 5000), raising=False)
    rc = main(["measure", str(gen), "--hop", "256", "--json", str(js), "--csv", str(cs), "--quiet",
               "--no-optional"])
    out, err = capsys.readouterr()
    assert rc == 1
    names = {"a.wav", "same.wav", "stereo.wav", "empty.wav", "notes.wav", "short.wav", "nan.wav",
             "cut.wav", "header_only.wav"}
    assert all(n in out for n in names)  # every file measured, in the table
    held = json.loads(js.read_text())  # the records appended before the disk was full, a valid list
    assert 0 < len(held) < 9 and {Path(r["path"]).name for r in held} <= names
    assert f"cannot write {js}: No space left on device; it holds {len(held)} of 9 records" in err
    assert f"cannot write {cs}: No space left on device" in err
    text = cs.read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert text.endswith("\n") and 0 < len(rows) < 9  # cut back to complete rows
    assert all(Path(r["path"]).name in names and r["tonal_score_db"] is not None for r in rows)
    assert f"it holds {len(rows)} of 9 records" in err


def test_a_reference_that_is_a_folder_says_so(tmp_path, arctic_files):
    (tmp_path / "x.wav").mkdir()
    rec = measure_file(arctic_files[0], hop=256, detect=False, reference=tmp_path / "x.wav",
                       optional=())
    assert rec["error"] is None
    assert any("is a folder" in w["message"] for w in rec["warnings"])


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
@pytest.mark.parametrize("channels", [1, 2])
def test_streamed_blocks_are_the_samples_libsndfile_decodes(tmp_path, subtype, channels):
    from audioup.audio.io import read_blocks

    x = np.random.default_rng(channels).uniform(-1, 1, (10007, channels)).astype(np.float32)
    x[:2] = np.array([[-1.0], [32767 / 32768]])  # the ends of the 16-bit range
    path = tmp_path / "x.wav"
    sf.write(path, x, 16000, subtype=subtype)
    want = sf.read(path, dtype="float32", always_2d=True)[0].mean(axis=1)
    blocks = list(read_blocks(path, 4096))
    assert [b.size for b in blocks] == [4096, 4096, 1815]
    got = np.concatenate(blocks)
    assert got.dtype == np.float32 and np.array_equal(got, want)
