"""The one dB floor: reported ratios stop at -300 dB, spectra 150 dB below their peak."""
from __future__ import annotations

import numpy as np
import pytest

from audioup.audio.db import DB_FLOOR, DB_RANGE, power_db, ratio_db, relative_db, to_db


def test_to_db_is_ten_log10_with_a_json_safe_floor():
    assert to_db(1000.0) == pytest.approx(30.0)
    assert to_db(0.0) == DB_FLOOR == -300.0
    assert to_db(1e-40) == DB_FLOOR and to_db(-1.0) == DB_FLOOR
    assert to_db(float("inf")) == float("inf")


def test_ratio_db_keeps_the_floor_when_the_denominator_is_zero():
    assert ratio_db(3.0, 0.03) == pytest.approx(20.0)
    assert ratio_db(0.0, 5.0) == ratio_db(0.0, 0.0) == DB_FLOOR
    assert ratio_db(1e-40, 1.0) == DB_FLOOR and ratio_db(2.0, 0.0) == float("inf")


def test_levels_of_silence_read_the_floor():
    from audioup.compare.evaluate import band_level_db
    from audioup.metrics.record import level_db

    tone = np.sin(np.arange(4000) * 0.3)
    assert level_db(np.zeros(4000), tone) == DB_FLOOR and level_db(tone, tone) == pytest.approx(0.0)
    spectrum = {"n_fft": 512, "sample_rate": 16000}
    quiet = {"spectrum": {**spectrum, "db": [-400.0] * 257}}
    loud = {"spectrum": {**spectrum, "db": [-20.0] * 257}}
    assert band_level_db(quiet, loud) == DB_FLOOR and band_level_db(loud, loud) == pytest.approx(0.0)


def test_spectra_are_floored_below_their_peak():
    power = np.array([4.0, 1.0, 1e-3, 0.0])
    db = power_db(power)
    assert db[0] == pytest.approx(10 * np.log10(4.0)) and db[2] == pytest.approx(-30.0)
    assert db[3] == pytest.approx(10 * np.log10(4.0) - DB_RANGE)  # silence: DB_RANGE below the peak
    rel = relative_db(power)
    assert rel[0] == pytest.approx(0.0) and rel[1] == pytest.approx(-10 * np.log10(4.0))
    assert rel[3] == pytest.approx(-DB_RANGE)
    assert power_db(np.zeros(3), ref=1.0) == pytest.approx(np.full(3, -DB_RANGE))


def test_metrics_and_analysis_share_the_floor():
    from audioup.analysis import probe
    from audioup.metrics import stationary

    assert probe.to_db is to_db and probe.DB_FLOOR == DB_FLOOR
    assert stationary.power_db is power_db
