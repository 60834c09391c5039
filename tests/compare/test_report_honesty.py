"""The report's numbers are the files' numbers: DC-free levels, float WAVs, speed spread, verdicts."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from audioup.evaluation import TestClip
from audioup.compare.evaluate import evaluate_vocoder, measure_outputs
from audioup.metrics import level_db
from audioup.compare.report import fmt_speed, verdict

RATE = 22050


def _speechlike(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (env * (0.2 * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(t.size))).astype(np.float32)


def test_level_ignores_dc_and_counts_sound():
    x = _speechlike()
    assert level_db(x + 0.7, x) == pytest.approx(0.0, abs=1e-6)
    assert level_db(0.1 * x + 0.7, x) == pytest.approx(-20.0, abs=1e-3)
    assert level_db(np.full_like(x, 0.9), x) < -150  # pure DC is silence


class _FakeVocoder:
    """wav_to_wav = a fixed gain plus a small offset: values a 16-bit file would round."""

    sample_rate = RATE
    generator = SimpleNamespace(upsample_factors=(8, 8, 4))

    def wav_to_wav(self, wav):
        return wav * 1e-3 + 1e-6 * torch.arange(wav.numel()) / wav.numel()


def test_scores_are_those_of_the_files_written(tmp_path):
    clips = [TestClip("a", tmp_path / "a.wav", _speechlike(seed=1)), TestClip("b", tmp_path / "b.wav", _speechlike(seed=2))]
    record = evaluate_vocoder(_FakeVocoder(), clips, tmp_path / "out", pesq=False)
    written = [sf.read(tmp_path / "out" / f"{c.name}.wav", dtype="float32")[0] for c in clips]
    assert sf.info(tmp_path / "out" / "a.wav").subtype == "FLOAT"
    expected = _FakeVocoder().wav_to_wav(torch.from_numpy(clips[0].samples)).numpy()
    assert np.array_equal(written[0], expected)  # nothing lost to 16-bit quantisation
    again = measure_outputs(written, RATE, (8, 8, 4), references=[c.samples for c in clips], pesq=False)
    for key in ("level_db", "mrstft", "mel_l1", "stoi"):
        assert record[key] == again[key], key
    assert record["level_db"] == pytest.approx(-60.0, abs=0.1)
    # one evaluation: each clip's figures in the comparison's record are those audioup convert's
    # report gives for the same vocoder and clip (audioup.evaluation, audioup.metrics.measure_signal)
    from audioup.evaluation import evaluate_clip

    for clip, file in zip(clips, record["files"]):
        m = evaluate_clip(_FakeVocoder(), clip, optional=("stoi",)).metrics
        assert 0 < m["stoi"] <= 1
        for key in ("stoi", "mel_l1", "mrstft", "tonal_score_db", "tonal_max_db"):
            assert file[key] == m[key], key


@pytest.mark.slow  # torchcrepe loads and runs: ~25 s on a shared CPU
def test_periodicity_and_vuv_sit_beside_pesq():
    pytest.importorskip("torchcrepe")
    torch.set_num_threads(1)
    ref = _speechlike(0.4)
    noisy = ref + 0.05 * np.random.default_rng(3).standard_normal(ref.size).astype(np.float32)
    same = measure_outputs([ref], RATE, (8, 8, 4), references=[ref], pesq=False)
    other = measure_outputs([noisy], RATE, (8, 8, 4), references=[ref], pesq=False)
    assert same["periodicity_rmse"] == pytest.approx(0.0, abs=1e-6) and same["vuv_f1"] == 1.0
    assert other["periodicity_rmse"] > 0.01
    off = measure_outputs([noisy], RATE, (8, 8, 4), references=[ref], pesq=False, periodicity=False)
    assert off["periodicity_rmse"] is None and off["mel_l1"] == other["mel_l1"]
    assert any("left out" in n for n in off["notes"])


def test_speed_shows_its_spread_or_is_left_out():
    assert fmt_speed(290.0, [290.0, 260.0, 280.0]) == "290× (260×)"
    assert fmt_speed(290.0, [290.0, 100.0]).startswith("busy (100-290×")
    assert fmt_speed(4.2) == "4.2×" and fmt_speed(None) == "n/a"


def test_verdict_is_relative_to_the_real_audio_and_flags_quiet_outputs():
    reference = {"tonal_score_db": 2.0}
    loud = verdict({"kind": "sinc", "step": 100, "level_db": -3.0, "tonal_score_db": 2.5, "mel_l1": 0.8,
                    "pesq_wb": None}, reference)
    assert "sinc after 100 steps: output -3 dB re the real audio" in loud
    assert "lines +0.5 dB over the real audio's" in loud and "Too quiet" not in loud
    quiet = verdict({"kind": "resize-linear", "step": 0, "level_db": -45.0, "tonal_score_db": 9.0,
                     "mel_l1": 3.0, "pesq_wb": 1.1}, reference)
    assert "+7.0 dB" in quiet and "clearly above" in quiet and "Too quiet (< -20 dB)" in quiet


def test_quiet_kinds_follow_the_last_evaluated_stage():
    from audioup.compare.plots import quiet_kinds

    comp = SimpleNamespace(stages=[0, 100], reference={}, results={0: {"sinc": {"level_db": -70.0},
                                                         "transposed": {"level_db": -10.0}}})
    assert quiet_kinds(comp) == {"sinc"}  # step 100 not evaluated yet
    comp.results[100] = {"sinc": {"level_db": -5.0}, "transposed": {"level_db": -30.0}}
    assert quiet_kinds(comp) == {"transposed"}


def test_high_band_level_catches_a_loud_rumble():
    from audioup.compare.evaluate import band_level_db, too_quiet

    n_fft, sr = 1024, RATE
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    ref = {"spectrum": {"n_fft": n_fft, "sample_rate": sr, "db": [-20.0] * len(freqs)}}
    rumble = {"level_db": -3.0, "spectrum": {"n_fft": n_fft, "sample_rate": sr,
                                             "db": np.where(freqs < 1000, -10.0, -60.0).tolist()}}
    assert band_level_db(rumble, ref) == pytest.approx(-40.0)
    assert too_quiet(rumble, ref) and not too_quiet({"level_db": -3.0}, ref)
    line = verdict(dict(rumble, kind="sinc", step=5), ref)
    assert "-40 dB above 1 kHz" in line
    assert "Too quiet above 1 kHz (< -20 dB)" in line  # not the -3 dB broadband level
