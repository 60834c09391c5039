"""The recovery fine-tune's loss: both outputs without the replaced layers' line bands."""
from __future__ import annotations

import math

import torch

from audioup.train.distill import line_band_mask, predicted_lines, without_lines

SR = 22050


def _level_db(x: torch.Tensor, freq: float) -> float:
    """Magnitude (dB) of ``x``'s rFFT at the bin nearest ``freq``."""
    spec = torch.fft.rfft(x * torch.hann_window(x.shape[-1], periodic=False))
    k = round(freq * x.shape[-1] / SR)
    return 20 * math.log10(float(spec[..., k].abs().max()) + 1e-12)


def test_predicted_lines_are_the_multiples_of_each_rate_up_to_nyquist():
    assert predicted_lines([11025.0], SR) == [11025.0]
    assert predicted_lines([5512.5, 11025.0], SR) == [5512.5, 11025.0]
    lines = predicted_lines([SR / 32], SR)
    assert len(lines) == 16 and lines[0] == SR / 32 and lines[-1] == SR / 2


def test_without_lines_drops_the_line_bands_and_keeps_the_rest():
    gen = torch.Generator().manual_seed(0)
    n = 8192
    t = torch.arange(n) / SR
    speech_like = 0.1 * torch.randn(1, n, generator=gen) + 0.3 * torch.sin(2 * math.pi * 440.0 * t)
    # a buzz at a layer's input rate, modulated as real lines are
    line = 0.05 * (1 + 0.5 * torch.sin(2 * math.pi * 3.0 * t)) * torch.cos(2 * math.pi * 5512.5 * t)
    mask = line_band_mask(n, SR, predicted_lines([5512.5], SR), notch_hz=30.0)
    with_line, without = without_lines(speech_like + line, mask), without_lines(speech_like, mask)
    # what the loss still sees of the line is its leakage out of the band (an unwindowed segment):
    # over 20 dB under the line itself
    left = float((with_line - without).pow(2).mean() / line.pow(2).mean())
    assert 10 * math.log10(left) < -20
    assert _level_db(speech_like + line, 5512.5) > _level_db(without, 5512.5) + 40
    # away from the bands the signal is untouched
    away = (mask == 0)
    diff = torch.fft.rfft(without) - torch.fft.rfft(speech_like)
    assert float(diff[..., away].abs().max()) < 1e-3
    assert abs(_level_db(without, 440.0) - _level_db(speech_like, 440.0)) < 0.01
    # the band is the asked width: full within notch_hz, gone beyond twice it (up to the next multiple)
    freqs = torch.fft.rfftfreq(n, 1 / SR)
    assert float(mask[(freqs - 5512.5).abs() <= 30].min()) == 1.0
    assert float(mask[((freqs - 5512.5).abs() > 60) & (freqs < 10900)].max()) == 0.0
    assert float(mask[-1]) == 1.0  # 11025 Hz, the second multiple
