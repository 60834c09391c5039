"""DistillMOS's no-reference estimate, where the package is installed (``pip install --no-deps
distillmos xls-r-sqa``); otherwise the metric is reported as unavailable, which is checked too."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

CLIP = Path(__file__).resolve().parents[2] / "data" / "cmu_arctic" / "arctic_a0007.wav"


def test_mos_ranks_clean_speech_over_the_same_speech_in_noise():
    pytest.importorskip("distillmos")
    import soundfile as sf

    from audioup.metrics.mos import distill_mos

    speech, sr = sf.read(CLIP, dtype="float32")
    rng = np.random.default_rng(0)
    noisy = speech + 0.3 * np.abs(speech).max() * rng.standard_normal(len(speech)).astype(np.float32)
    clean_mos, noisy_mos = distill_mos(speech, sr), distill_mos(noisy, sr)
    assert 1.0 <= noisy_mos < clean_mos - 0.5 and clean_mos <= 5.0


def test_mos_refuses_short_or_silent_audio_and_a_missing_package(monkeypatch):
    from audioup.metrics import MetricUnavailable, reference_metrics
    from audioup.metrics import mos

    with pytest.raises(MetricUnavailable, match="at least"):
        mos.distill_mos(np.ones(8000, np.float32), 16000)
    with pytest.raises(MetricUnavailable, match="silent"):
        mos.distill_mos(np.zeros(32000, np.float32), 16000)
    # without the package the reference metrics record why, and carry on
    mos._model.cache_clear()
    monkeypatch.setitem(sys.modules, "distillmos", None)
    x = np.sin(np.arange(32000) * 0.05).astype(np.float32)
    out = reference_metrics(x, x, 16000, optional=("mos",))
    assert out["mel_l1"] == pytest.approx(0.0, abs=1e-6)
    assert "not installed" in out["unavailable"]["mos"]
    mos._model.cache_clear()
