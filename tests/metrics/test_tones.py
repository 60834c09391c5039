"""Predicted artifact lines: where they are and which layer they belong to."""
import math

import numpy as np
import pytest

from audioup.metrics import default_n_fft, parse_factors, predicted_tones
from audioup.metrics.tones import layer_input_rates, resolve_schedule


def test_lines_are_every_multiple_of_sr_over_hop_up_to_nyquist():
    tones = predicted_tones(22050, factors=(8, 8, 2, 2))
    freqs = np.array([t.freq_hz for t in tones])
    assert len(tones) == 128
    np.testing.assert_allclose(freqs, np.arange(1, 129) * 22050 / 256)
    assert freqs[-1] == pytest.approx(11025.0)


def test_each_line_goes_to_the_deepest_layer_whose_input_rate_divides_it():
    sr, factors = 22050, (8, 8, 2, 2)
    rates = layer_input_rates(sr, factors)
    np.testing.assert_allclose(rates, [sr / 256, sr / 32, sr / 4, sr / 2])
    for t in predicted_tones(sr, factors):
        # the layer's input rate divides the line ...
        k = t.freq_hz / rates[t.layer]
        assert abs(k - round(k)) < 1e-9
        # ... and no deeper layer's does
        for deeper in range(t.layer + 1, len(factors)):
            k = t.freq_hz / rates[deeper]
            assert abs(k - round(k)) > 1e-6
    by_layer = {i: [t.freq_hz for t in predicted_tones(sr, factors) if t.layer == i] for i in range(4)}
    assert by_layer[3] == [11025.0] and by_layer[2] == [5512.5]
    assert len(by_layer[1]) == 14 and len(by_layer[0]) == 112


def test_hop_alone_is_one_layer_and_must_agree_with_factors():
    assert {t.layer for t in predicted_tones(24000, hop=300)} == {0}
    assert len(predicted_tones(24000, hop=300)) == 150
    with pytest.raises(ValueError, match="hop 200"):
        resolve_schedule((8, 8, 2, 2), 200)
    with pytest.raises(ValueError):
        resolve_schedule(None, None)


@pytest.mark.parametrize("text", ["", "8,x", "8,0,2", "a"])
def test_parse_factors_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_factors(text)


def test_parse_factors_spellings():
    assert parse_factors("8,8,2,2") == parse_factors("8x8x2x2") == parse_factors([8, 8, 2, 2]) == (8, 8, 2, 2)


@pytest.mark.parametrize("sr,hop", [(8000, 256), (16000, 200), (22050, 256), (24000, 300), (44100, 512), (96000, 256)])
def test_default_n_fft_puts_every_line_on_a_bin(sr, hop):
    n_fft = default_n_fft(sr, hop)
    assert n_fft % hop == 0 and n_fft // hop >= 16
    for t in predicted_tones(sr, hop=hop):
        b = t.freq_hz * n_fft / sr
        assert math.isclose(b, round(b), abs_tol=1e-9)
