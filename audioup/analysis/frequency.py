"""Frequency view of a layer: white noise and a swept sine through it.

Upsampling by ``factor`` puts the input's spectrum in ``[0, sr_in/2]`` and,
unless something removes them, ``factor - 1`` mirror images of it above
``sr_in/2``. A layer is a mix of three behaviours (Pons et al., ICASSP 2021):

- tones: a fixed periodic pattern, lines at multiples of ``sr_in`` (seen when
  the input has a mean: the noise here has a DC offset);
- spectral images: mirrored copies of the input above ``sr_in/2``
  (transposed and subpixel keep them unless trained away);
- filtering: the interpolator's low-pass (nearest is a ``sinc``, linear a
  ``sinc^2``, sinc is nearly a brick wall), which attenuates images and
  bends the pass band.

Frequencies are in units of the input rate unless ``sample_rate`` (the
input's rate) is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from torch import nn

from ..audio.db import power_db, ratio_db, relative_db
from .probe import layer_factor, layer_in_channels, plain_copy, to_db
from .spectra import Line, band_power, line_prominence, power_spectrum


@dataclass
class FrequencyResponse:
    """Result of :func:`frequency_response`.

    Attributes:
        sample_rate: the input rate (frequencies are in its unit); the output rate is ``factor`` times it.
        factor: upsampling factor.
        freqs: ``(F,)`` output frequencies, 0 to ``factor * sample_rate / 2``.
        gain_db: ``(F,)`` (Welch-averaged) output noise power per unit bandwidth over the input's,
            per channel pair (0 dB is the pass-band gain of ideal band-limited
            interpolation; the DC offset shows at 0 Hz).
        tones: lines at multiples of the input rate in the noise response.
        image_db: power above ``sample_rate/2`` over power below, for the noise.
        sweep_image_db: the same ratio for the swept sine.
        passband_tilt_db: gain in the top tenth of the pass band (0.4-0.5
            ``sample_rate``) over the gain in its bottom fifth (0-0.1).
        sweep: ``(times, freqs, power_db)`` spectrogram of the swept-sine output.
    """

    sample_rate: float
    factor: int
    freqs: np.ndarray
    gain_db: np.ndarray
    tones: List[Line]
    image_db: float
    sweep_image_db: float
    passband_tilt_db: float
    sweep: tuple

    def to_dict(self) -> dict:
        return {
            "sample_rate_in": self.sample_rate, "factor": self.factor,
            "image_db": self.image_db, "sweep_image_db": self.sweep_image_db,
            "passband_tilt_db": self.passband_tilt_db,
            "tones": [t.to_dict() for t in self.tones],
        }


def swept_sine(length: int, sample_rate: float = 1.0, f0: float = 0.0, f1: Optional[float] = None) -> np.ndarray:
    """Linear chirp from ``f0`` to ``f1`` (default: just under Nyquist) over ``length`` samples, amplitude 1."""
    f1 = 0.49 * sample_rate if f1 is None else f1
    t = np.arange(length) / sample_rate
    duration = length / sample_rate
    return np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * duration)))


def frequency_response(layer: nn.Module, sample_rate: float = 1.0, length: int = 4096, dc: float = 1.0,
                       n_fft: Optional[int] = None, seed: int = 0) -> FrequencyResponse:
    """Pass white noise (plus a DC offset) and a swept sine through a layer.

    Args:
        layer: any upsampler or ``nn.ConvTranspose1d`` (not changed).
        sample_rate: the layer's input rate (default 1: frequencies in cycles per input sample).
        length: input samples per signal.
        dc: offset added to the unit-variance noise, so the layer's periodic
            pattern shows up as lines (0 for images only).
        n_fft: spectrogram window for the sweep (default ``32 * factor``, at least 256).
        seed: noise seed.

    Returns:
        :class:`FrequencyResponse`.
    """
    from scipy import signal  # ~2 s to import: only when a response is measured

    factor = layer_factor(layer)
    probe = plain_copy(layer)
    c_in = layer_in_channels(probe)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, c_in, length, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        zero = probe(torch.zeros(1, c_in, length, dtype=torch.float64))
        y_noise = (probe(noise + dc) - zero)[0].numpy()
        chirp = torch.from_numpy(swept_sine(length, sample_rate)).reshape(1, 1, -1).expand(1, c_in, length)
        y_sweep = (probe(chirp.contiguous()) - zero)[0].numpy()
    out_rate = factor * sample_rate
    edge = min(y_noise.shape[-1] // 8, 64 * factor)
    edge -= edge % factor
    y_mid = y_noise[:, edge:y_noise.shape[-1] - edge]
    y_mid = y_mid[:, : (y_mid.shape[-1] // factor) * factor]
    freqs, power = power_spectrum(y_mid, out_rate)
    # power_spectrum gives variance per bin (unit white noise: 1 in every bin). Ideal
    # band-limited interpolation of unit white noise at sr_in is unit-variance noise filling
    # 1/factor of the output band, i.e. `factor` per bin there: that is 0 dB.
    gain = power / (factor * c_in)
    # the plotted curve: Welch-averaged (same normalisation, smoother than one periodogram)
    seg = min(y_mid.shape[-1], 128 * factor)
    w_freqs, w_psd = signal.welch(y_mid, fs=out_rate, window="hann", nperseg=seg, detrend=False, axis=-1)
    w_gain = w_psd.mean(axis=0) * out_rate / 2 / (factor * c_in)
    w_gain[0] *= 2
    if seg % 2 == 0:
        w_gain[-1] *= 2
    gain_db = power_db(w_gain, ref=1.0)  # dB re unit gain
    targets = [k * sample_rate for k in range(1, factor // 2 + 1)]
    tones = line_prominence(freqs, power, targets)
    nyq_in = sample_rate / 2
    below = band_power(freqs, power, sample_rate / 100, nyq_in)
    above = band_power(freqs, power, nyq_in, out_rate)
    bottom = gain[(freqs > 0.0) & (freqs <= 0.1 * sample_rate)].mean()
    top = gain[(freqs >= 0.4 * sample_rate) & (freqs < 0.5 * sample_rate)].mean()

    sweep_db, sweep = _sweep_view(y_sweep, edge, sample_rate, factor, max(256, 32 * factor) if n_fft is None else n_fft)
    return FrequencyResponse(sample_rate, factor, w_freqs, gain_db, tones, to_db(above / below) if below > 0 else 0.0,
                             sweep_db, to_db(top / bottom) if bottom > 0 else 0.0, sweep)


def _sweep_view(y_sweep: np.ndarray, edge: int, sample_rate: float, factor: int, n_fft: int):
    """``(image_db, (times, freqs, power_db))`` of a layer's ``(C, T)`` swept-sine output.

    ``image_db``: power above the input's Nyquist frequency over power below it, with
    ``edge`` samples left out at both ends; the spectrogram has windows of ``n_fft``.
    """
    from scipy import signal  # ~2 s to import: only when a response is measured

    out_rate, nyq_in = factor * sample_rate, sample_rate / 2
    s_freqs, s_power = power_spectrum(y_sweep[:, edge:y_sweep.shape[-1] - edge], out_rate)
    image_db = ratio_db(band_power(s_freqs, s_power, nyq_in, out_rate), band_power(s_freqs, s_power, 0, nyq_in))
    f_sg, t_sg, sxx = signal.spectrogram(y_sweep, fs=out_rate, nperseg=min(n_fft, y_sweep.shape[-1]),
                                         noverlap=min(n_fft, y_sweep.shape[-1]) * 7 // 8, axis=-1)
    return image_db, (t_sg, f_sg, relative_db(sxx.mean(axis=0)))


__all__ = ["FrequencyResponse", "frequency_response", "swept_sine"]
