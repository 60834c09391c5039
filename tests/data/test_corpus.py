"""The embedded corpus: augmentation properties, determinism, reuse, and the build script."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioup.data.corpus import augment, build_corpus, plan_clips

REPO = Path(__file__).resolve().parents[2]
SR = 16000


def _tone(freq, seconds=1.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x, sr=SR):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * sr / len(x)


def test_pitch_shift_octave_doubles_frequency():
    y = augment(_tone(440.0), SR, semitones=12)
    assert len(y) == SR
    assert _peak_hz(y[2000:-2000]) == pytest.approx(880.0, rel=0.01)


def test_pitch_shift_down_by_fifth():
    y = augment(_tone(660.0), SR, semitones=-7)
    assert _peak_hz(y[2000:-2000]) == pytest.approx(660.0 * 2 ** (-7 / 12), rel=0.01)


def test_time_stretch_changes_length_not_pitch():
    y = augment(_tone(500.0), SR, rate=1.25)
    assert len(y) == pytest.approx(SR / 1.25, abs=2)
    assert _peak_hz(y[1000:-1000]) == pytest.approx(500.0, rel=0.01)


def test_gain_in_db():
    x = _tone(300.0)
    assert np.abs(augment(x, SR, gain_db=-6.0206)).max() == pytest.approx(0.25, rel=1e-3)
    assert np.array_equal(augment(x, SR), x)  # identity with defaults


def test_bad_rate_rejected():
    with pytest.raises(ValueError, match="rate must be positive"):
        augment(_tone(300.0), SR, rate=-1.0)


def test_plan_is_deterministic_and_within_ranges():
    srcs = [Path("a.wav"), Path("b.wav")]
    a, b = plan_clips(srcs, 5, 1, seed=3), plan_clips(srcs, 5, 1, seed=3)
    assert a == b and plan_clips(srcs, 5, 1, seed=4) != a
    assert [c.split for c in a[:6]] == ["test", "train", "train", "train", "train", "val"]
    aug = [c for c in a if c.split != "test"]
    assert all(-4 <= c.semitones <= 4 and 0.85 <= c.rate <= 1.15 and -12 <= c.peak_db <= -1 for c in aug)
    assert len({c.file for c in a}) == len(a)
    with pytest.raises(ValueError):
        plan_clips(srcs, 2, 2, seed=0)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "wavs").glob("*.wav"))}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("c") / "corpus", variants=3, n_val=1, seed=0, progress=False)


def test_corpus_layout_rate_and_levels(corpus):
    assert corpus.counts == {"train": 4, "val": 2, "test": 2}
    for split, listing in corpus.filelists.items():
        files = [corpus.root / line for line in listing.read_text().splitlines()]
        assert len(files) == corpus.counts[split]
        for f in files:
            info = sf.info(str(f))
            assert info.samplerate == 22050 and info.channels == 1 and info.duration > 1.0
    for clip in corpus.clips:
        x, _ = sf.read(str(corpus.root / clip.file))
        assert 20 * np.log10(np.abs(x).max()) == pytest.approx(clip.peak_db, abs=0.5)
    manifest = json.loads((corpus.root / "corpus.json").read_text())
    assert manifest["settings"]["seed"] == 0 and len(manifest["clips"]) == 8


def test_test_split_is_the_resampled_original(corpus, speech_22k):
    originals = sorted(c.file for c in corpus.clips if c.split == "test")
    for name, ref in zip(originals, speech_22k):
        x, _ = sf.read(str(corpus.root / name), dtype="float32")
        n = min(len(x), len(ref))
        assert np.corrcoef(x[:n], ref[:n])[0, 1] > 0.999


def test_augmented_clips_differ_in_duration(corpus):
    by_rate = {c.rate: sf.info(str(corpus.root / c.file)).duration for c in corpus.clips
               if c.source == "arctic_a0007.wav"}
    original = by_rate.pop(1.0)
    for rate, duration in by_rate.items():
        assert duration == pytest.approx(original / rate, rel=0.01)


def test_same_seed_same_bytes_other_seed_differs(corpus, tmp_path):
    again = build_corpus(tmp_path / "again", variants=3, n_val=1, seed=0, progress=False)
    assert _digest(again.root) == _digest(corpus.root)
    other = build_corpus(tmp_path / "other", variants=3, n_val=1, seed=1, progress=False)
    assert _digest(other.root) != _digest(corpus.root)


def test_reuse_refuse_and_force(corpus):
    before = {p: p.stat().st_mtime_ns for p in (corpus.root / "wavs").iterdir()}
    build_corpus(corpus.root, variants=3, n_val=1, seed=0, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (corpus.root / "wavs").iterdir()} == before
    with pytest.raises(FileExistsError, match="other settings.*--force"):
        build_corpus(corpus.root, variants=2, n_val=1, seed=0, progress=False)


def test_force_replaces_only_its_own_clips(tmp_path):
    out = tmp_path / "c"
    build_corpus(out, variants=2, n_val=1, seed=0, progress=False)
    keep = out / "notes.txt"
    keep.write_text("mine")
    rebuilt = build_corpus(out, variants=2, n_val=1, seed=5, force=True, progress=False)
    names = {p.name for p in (out / "wavs").iterdir()}
    assert names == {Path(c.file).name for c in rebuilt.clips} and keep.read_text() == "mine"


def test_foreign_folder_refused(tmp_path):
    (tmp_path / "x.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not an audioup corpus"):
        build_corpus(tmp_path, variants=2, progress=False)


def test_bad_source_names_the_file(tmp_path):
    bad = tmp_path / "src" / "broken.wav"
    bad.parent.mkdir()
    bad.write_text("not audio")
    from audioup.audio.io import AudioError

    with pytest.raises(AudioError, match="broken.wav"):
        build_corpus(tmp_path / "out", sources=[bad], variants=2, progress=False)


def test_build_corpus_script(tmp_path):
    cmd = [sys.executable, str(REPO / "data_scripts" / "build_corpus.py"), "--out", str(tmp_path / "c"),
           "--variants", "2", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "train 2, val 2, test 2" in proc.stdout
    assert len((tmp_path / "c" / "train.txt").read_text().splitlines()) == 2


def test_build_corpus_script_refuses_other_settings(tmp_path, data_script, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("x")
    code = data_script("build_corpus").main(["--out", str(tmp_path / "c"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "--force" in err


def test_absurd_variant_count_refused_up_front(tmp_path, data_script, capsys, monkeypatch):
    import time

    import audioup.data.corpus as corpus_module

    def no_plan(*args):  # a regression must fail here, not plan 10^8 clips for minutes
        pytest.fail("clips were planned before the count was checked")

    monkeypatch.setattr(corpus_module, "plan_clips", no_plan)

    start = time.monotonic()
    code = data_script("build_corpus").main(["--out", str(tmp_path / "c"), "--variants", "100000000", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "--variants 100000000: at most 1000" in err
    assert time.monotonic() - start < 5 and not (tmp_path / "c").exists()  # refused before any work
    many = [tmp_path / f"s{i}.wav" for i in range(25)]
    for path in many:
        sf.write(path, np.zeros(160, dtype=np.float32), SR)
    with pytest.raises(ValueError, match=r"25 sources x \(1000 variants \+ 1 original\) = 25025 clips: at most"):
        build_corpus(tmp_path / "d", sources=many, variants=1000, progress=False)
