"""Reference-based metrics: ideal on identical signals, worse as the signal degrades."""
import sys

import numpy as np
import pytest

from audioup.metrics import (
    log_spectral_distance, mel_l1_distance, mrstft_distance, periodicity, reference_metrics,
)

SR = 22050


def _noisy(x, snr_db, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(x)) * np.sqrt(np.mean(x.astype(np.float64) ** 2)) * 10 ** (-snr_db / 20)
    return (x + noise).astype(np.float32)


@pytest.fixture(scope="module")
def excerpt(speech_22k):
    return speech_22k[0][int(0.3 * SR):int(2.3 * SR)]


def test_distances_are_zero_for_identical_and_grow_with_degradation(excerpt):
    x = excerpt
    for fn in (lambda a, b: mrstft_distance(a, b, SR), lambda a, b: mel_l1_distance(a, b, SR),
               lambda a, b: log_spectral_distance(a, b)):
        assert fn(x, x.copy()) == pytest.approx(0.0, abs=1e-6)
        d = [fn(_noisy(x, snr), x) for snr in (40, 20, 0)]
        assert 0 < d[0] < d[1] < d[2], d


def test_long_signals_are_segmented_without_changing_the_answer_much(excerpt):
    x, y = excerpt, _noisy(excerpt, 20)
    whole = mrstft_distance(y, x, SR)
    pieces = mrstft_distance(y, x, SR, segment_s=0.5)
    assert pieces == pytest.approx(whole, rel=0.05)
    assert mel_l1_distance(y, x, SR, segment_s=0.5) == pytest.approx(mel_l1_distance(y, x, SR), rel=0.05)


@pytest.mark.parametrize("n", [300, 1500, 9000])  # 300: shorter than half of every FFT (zero-padded ends)
def test_mrstft_distance_is_the_training_loss_of_one_segment(excerpt, n):
    import torch

    from audioup.models.losses import multi_resolution_stft_loss

    x, y = excerpt[:n], _noisy(excerpt, 10)[:n]
    loss = float(multi_resolution_stft_loss(torch.from_numpy(y)[None], torch.from_numpy(x)[None]))
    assert mrstft_distance(y, x, SR) == pytest.approx(loss, rel=1e-5)


def test_lengths_are_cut_to_the_shorter(excerpt):
    assert mrstft_distance(excerpt[:-100], excerpt, SR) == pytest.approx(0.0, abs=1e-6)


def test_pesq_and_stoi_are_ideal_for_identical_and_fall_with_noise(excerpt):
    same = reference_metrics(excerpt, excerpt, SR, optional=("pesq_wb", "stoi"))
    assert same["unavailable"] == {}
    assert same["pesq_wb"] > 4.5 and same["stoi"] == pytest.approx(1.0, abs=1e-6)
    noisy = reference_metrics(_noisy(excerpt, 5), excerpt, SR, optional=("pesq_wb", "stoi"))
    assert noisy["pesq_wb"] < same["pesq_wb"] - 1 and noisy["stoi"] < same["stoi"]
    assert noisy["mrstft"] > 0 and same["mrstft"] == pytest.approx(0.0, abs=1e-6)


def test_periodicity_is_ideal_for_identical_and_worse_with_noise(excerpt):
    x = excerpt[: SR]  # torchcrepe on CPU: keep it to one second
    same = periodicity(x, x.copy(), SR)
    assert same["periodicity_rmse"] == pytest.approx(0.0, abs=1e-6) and same["vuv_f1"] == 1.0
    noisy = periodicity(_noisy(x, 0), x, SR)
    assert noisy["periodicity_rmse"] > 0.02 and noisy["vuv_f1"] <= 1.0


def test_a_missing_optional_package_is_reported_not_raised(excerpt, monkeypatch):
    monkeypatch.setitem(sys.modules, "pesq", None)  # import pesq -> ImportError
    monkeypatch.setitem(sys.modules, "pystoi", None)
    m = reference_metrics(excerpt, excerpt, SR, optional=("pesq_wb", "stoi"))
    assert m["pesq_wb"] is None and m["stoi"] is None
    assert "not installed" in m["unavailable"]["pesq_wb"] and "not installed" in m["unavailable"]["stoi"]
    assert m["mel_l1"] == pytest.approx(0.0, abs=1e-6)


def test_pesq_on_silence_says_why(excerpt):
    m = reference_metrics(np.zeros(SR, np.float32), np.zeros(SR, np.float32), SR, optional=("pesq_wb",))
    assert m["pesq_wb"] is None and "silent" in m["unavailable"]["pesq_wb"]


def test_every_metric_takes_generated_reference_rate_then_keywords(excerpt):
    """One signature: ``(gen, ref, sample_rate, *, options)``; old keyword calls still work."""
    import inspect

    from audioup.metrics import reference as R

    for fn in (R.mrstft_distance, R.mel_l1_distance, R.log_spectral_distance, R.pesq_wb, R.stoi,
               R.periodicity, R.reference_metrics):
        params = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in params[:3]] == ["gen", "ref", "sample_rate"], fn.__name__
        assert all(p.kind is p.KEYWORD_ONLY for p in params[3:]), fn.__name__
    y = _noisy(excerpt, 20)
    default = log_spectral_distance(y, excerpt, SR)
    assert default == log_spectral_distance(y, excerpt, sample_rate=SR) > 0
    short = log_spectral_distance(y, excerpt, n_fft=512, hop_length=128, sample_rate=SR)
    assert short > 0 and short != pytest.approx(default, rel=1e-3)


def test_stoi_of_too_little_sound_is_unavailable_not_1e_5(excerpt):
    """pystoi returns 1e-5 (with a warning) when the reference has under 30 frames of sound; the
    metric says so instead of reporting a worst-possible score."""
    short = excerpt[: int(0.2 * SR)]
    m = reference_metrics(short, short, SR, optional=("stoi",))
    assert m["stoi"] is None and "too little sound" in m["unavailable"]["stoi"]
