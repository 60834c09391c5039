"""Tonal score and blind detection on the bundled CMU ARCTIC speech (22.05 kHz, hop 256)."""
import numpy as np
import pytest

from audioup.metrics import StationarySpectrum, detect_tones, predicted_tones, tonal_score

SR, FACTORS = 22050, (8, 8, 2, 2)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _with_tones(x, freqs, level_db, seed=0):
    """``x`` plus steady sinusoids, each with an RMS ``level_db`` relative to ``x``'s RMS."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(x)) / SR
    amp = _rms(x) * 10 ** (level_db / 20) * np.sqrt(2)
    tones = sum(amp * np.cos(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    return (x + tones).astype(np.float32)


def test_clean_speech_scores_within_the_null(speech_22k):
    for x in speech_22k:
        s = score_spectrum_of(x)
        assert abs(s.tonal_score_db) <= 3 * s.null_spread_db + 0.1, (s.tonal_score_db, s.null_spread_db)
        assert len(s.tones) == 128


def score_spectrum_of(x):
    return tonal_score(x, SR, factors=FACTORS)


def test_injected_predicted_tones_raise_the_score_monotonically(speech_22k):
    freqs = [t.freq_hz for t in predicted_tones(SR, FACTORS)]
    for x in speech_22k:
        clean = score_spectrum_of(x).tonal_score_db
        scores = [score_spectrum_of(_with_tones(x, freqs, lvl)).tonal_score_db
                  for lvl in (-60, -50, -40, -30, -20)]
        assert clean < scores[0]
        assert all(b > a + 3 for a, b in zip(scores, scores[1:])), scores


def test_a_line_is_attributed_to_its_layer(speech_22k):
    x = _with_tones(speech_22k[0], [5512.5], -30)
    s = score_spectrum_of(x)
    assert s.strongest(1)[0]["freq_hz"] == pytest.approx(5512.5)
    assert s.per_layer["layer3"]["max_db"] > 20
    assert s.per_layer["layer3"]["max_db"] > s.per_layer["layer1"]["max_db"] + 10


def test_blind_detection_finds_arbitrary_tones_within_1hz(speech_22k):
    injected = [437.3, 1234.5, 2999.9, 4000.0, 6543.21, 9876.5]
    for x in speech_22k:
        found = detect_tones(_with_tones(x, injected, -25), SR)
        freqs = [d["freq_hz"] for d in found]
        for f in injected:
            assert min(abs(np.array(freqs) - f)) < 1.0, (f, freqs)
        # nothing else: in particular, no speech harmonic
        extra = [g for g in freqs if min(abs(np.array(injected) - g)) > 1.0]
        assert extra == [], extra
        assert all(d["persistence"] >= 0.5 for d in found)


def test_blind_detection_does_not_flag_speech(speech_22k):
    for x in speech_22k:
        assert detect_tones(x, SR) == []


def test_chunked_feeding_is_bit_identical():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(SR * 12).astype(np.float32)  # 129 frames: two blocks + an open one
    whole = StationarySpectrum(SR, 4096, persistence=True).update(x).result()
    acc = StationarySpectrum(SR, 4096, persistence=True)
    pos = 0
    for size in rng.integers(1, 30000, size=1000):
        acc.update(x[pos:pos + size])
        pos += size
        if pos >= len(x):
            break
    chunked = acc.result()
    assert chunked.n_frames == whole.n_frames == 1 + (len(x) - 4096) // 2048
    np.testing.assert_array_equal(chunked.power, whole.power)
    np.testing.assert_array_equal(chunked.persistence, whole.persistence)


def test_median_is_exact_within_one_block_and_close_beyond():
    rng = np.random.default_rng(2)
    n_fft, step = 512, 256
    x = rng.standard_normal(step * 62 + n_fft).astype(np.float32)  # 63 frames: one block
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::step] * np.hanning(n_fft + 1)[:-1]
    exact = np.median(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    got = StationarySpectrum(8000, n_fft).update(x).result().power
    np.testing.assert_allclose(got, exact, rtol=1e-4)
    # 20 blocks of white noise: the remedian stays within 1 dB of the exact median (mean over bins)
    x = rng.standard_normal(step * 63 * 20 + n_fft).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::step] * np.hanning(n_fft + 1)[:-1]
    exact = np.median(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    got = StationarySpectrum(8000, n_fft).update(x).result().power
    assert abs(np.mean(10 * np.log10(got[5:-5] / exact[5:-5]))) < 1.0


def test_a_pure_line_on_a_predicted_bin_leaks_into_its_neighbours_only():
    t = np.arange(SR * 3) / SR
    x = 1e-3 * np.random.default_rng(3).standard_normal(len(t)) + 0.1 * np.cos(2 * np.pi * 8 * SR / 256 * t)
    s = tonal_score(x, SR, factors=FACTORS)
    top = s.strongest(2)
    assert top[0]["freq_hz"] == pytest.approx(8 * SR / 256) and top[0]["layer"] == 2
    assert top[0]["prominence_db"] > 40 and top[1]["prominence_db"] < 10
    assert top[0]["level_db"] == pytest.approx(20 * np.log10(0.1 / np.sqrt(2) / np.sqrt(0.005 + 1e-6)), abs=1.0)


def test_bad_waveforms_are_refused():
    with pytest.raises(ValueError, match="too short"):
        tonal_score(np.zeros(1000), SR, hop=256)
    with pytest.raises(ValueError, match="NaN"):
        tonal_score(np.full(10000, np.nan), SR, hop=256)
    with pytest.raises(ValueError, match="multiple of the hop"):
        tonal_score(np.zeros(10000), SR, hop=256, n_fft=4000)
