"""Training data: file checks by name, segments of the right length and rate."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audioup.data import DataError, SegmentDataset, check_files, collect_files, usable_files


@pytest.fixture
def corpus(tmp_path):
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone16k.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    sf.write(tmp_path / "stereo22k.wav", np.stack([np.full(30000, 0.25), np.full(30000, -0.25)], 1), 22050)
    sf.write(tmp_path / "short.wav", np.zeros(100), 22050)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (tmp_path / "list.txt").write_text("tone16k.wav|some text\n# comment\n\nstereo22k.wav\n")
    return tmp_path


def test_check_names_bad_files_and_stop_or_skip(corpus):
    files = collect_files([corpus])
    check = check_files(files, 22050, min_samples=8192)
    assert sorted(p.name for p in check.good) == ["stereo22k.wav", "tone16k.wav"]
    bad = dict((p.name, why) for p, why in check.bad)
    assert set(bad) == {"short.wav", "broken.wav"} and "too short" in bad["short.wav"]
    with pytest.raises(DataError, match="short.wav") as err:
        usable_files(files, 22050, 8192, on_bad_file="stop")
    assert "broken.wav" in str(err.value) and "2 of 4" in str(err.value)
    notes = []
    kept = usable_files(files, 22050, 8192, on_bad_file="skip", log=notes.append)
    assert len(kept.good) == 2 and "skipping 2 of 4" in notes[0]
    # lengths come from headers, at the training rate
    assert dict(zip((p.name for p in kept.good), kept.lengths))["tone16k.wav"] == 22050


@pytest.mark.parametrize("cache", [True, False])
def test_segments_are_mono_resampled_and_fixed_length(corpus, cache):
    files = collect_files(filelist=str(corpus / "list.txt"))
    assert [p.name for p in files] == ["tone16k.wav", "stereo22k.wav"]  # filelist order
    data = SegmentDataset(files, 22050, segment_length=4096, cache=cache)
    mono = data[1]
    assert mono.shape == (4096,) and torch.allclose(mono, torch.zeros(4096), atol=1e-6)  # L+R cancel
    tone = data[0]
    assert tone.shape == (4096,) and tone.dtype == torch.float32
    # resampled 16k -> 22.05k: the 440 Hz tone keeps its frequency at the new rate
    spectrum = np.abs(np.fft.rfft(tone.numpy() * np.hanning(4096)))
    assert abs(np.argmax(spectrum) * 22050 / 4096 - 440) < 22050 / 4096
    torch.manual_seed(3)
    a = data[0]
    torch.manual_seed(3)
    assert torch.equal(a, data[0])  # segments follow torch's random state


def _nan_corpus(tmp_path):
    t = np.arange(22050) / 22050
    good = tmp_path / "good.wav"
    sf.write(good, 0.5 * np.sin(2 * np.pi * 440 * t), 22050, subtype="FLOAT")
    bad = tmp_path / "nan.wav"
    x = np.zeros(22050, np.float32)
    x[::50] = np.nan  # the header is fine; the samples are not
    sf.write(bad, x, 22050, subtype="FLOAT")
    return [bad, good]


@pytest.mark.parametrize("cache", [True, False])
def test_nan_samples_stop_naming_the_file_or_are_skipped_and_counted(tmp_path, cache):
    files = _nan_corpus(tmp_path)
    assert not check_files(files, 22050, 1024).bad  # the header check cannot see it
    with pytest.raises(DataError, match=r"nan.wav: contains \d+ NaN or Inf samples .set data.on_bad_file=skip"):
        ds = SegmentDataset(files, 22050, 1024, cache=cache)
        ds[0]
    notes = []
    ds = SegmentDataset(files, 22050, 1024, cache=cache, on_bad_file="skip", log=notes.append)
    items = [ds[i] for i in range(len(ds))] + [ds[0]]
    assert all(torch.isfinite(x).all() and x.abs().max() > 0.4 for x in items)  # all from good.wav
    assert list(ds.skipped) == [files[0]] and len(notes) == 1 and "skipping" in notes[0]
