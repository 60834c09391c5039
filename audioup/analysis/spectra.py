"""Spectrum helpers for the diagnostics: an averaged periodogram and the prominence of known lines."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from ..audio.db import power_db, ratio_db
from ..metrics.tonal import prominence


def power_spectrum(x: np.ndarray, sample_rate: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """Hann-windowed periodogram of the last axis, averaged over every other axis.

    A line whose frequency is a whole number of cycles over the signal falls on
    one bin (plus the window's two neighbours), so use lengths that hold whole
    periods of the lines you look for.

    Args:
        x: ``(..., T)`` real signal(s).
        sample_rate: in any unit; frequencies come back in that unit.

    Returns:
        ``(freqs (T//2+1,), power (T//2+1,))`` with power in signal units squared per bin.
    """
    x = np.asarray(x, dtype=np.float64)
    length = x.shape[-1]
    window = np.hanning(length + 2)[1:-1]  # strictly positive, symmetric
    spec = np.fft.rfft(x.reshape(-1, length) * window, axis=-1)
    power = (np.abs(spec) ** 2).mean(axis=0) / (window ** 2).sum()
    return np.fft.rfftfreq(length, d=1.0 / sample_rate), power


@dataclass
class Line:
    """A line at a known frequency: its power, the local floor and the prominence."""

    freq: float
    power: float
    floor: float
    prominence_db: float
    fraction_db: float  # line power over the whole spectrum's power

    def to_dict(self) -> dict:
        return {"freq": self.freq, "power": self.power, "floor": self.floor,
                "prominence_db": self.prominence_db, "fraction_db": self.fraction_db}


def line_prominence(freqs: np.ndarray, power: np.ndarray, targets: Sequence[float],
                    guard: int = 2, width: int = 24) -> List[Line]:
    """Measure lines at ``targets`` against the local floor.

    The line's power is the largest bin within one bin of the target; the
    floor is the median of the bins within ``width`` of it, leaving out
    ``guard`` bins on each side (so the window's own leakage is not counted),
    taken by the metrics' one prominence definition
    (:func:`audioup.metrics.tonal.prominence`: dB floored 150 dB below the peak,
    bins beyond either end mirrored back).

    Args:
        freqs, power: a spectrum (e.g. from :func:`power_spectrum`).
        targets: line frequencies, same unit as ``freqs``; those beyond the
            last bin are skipped.
        guard, width: bins, see above.
    """
    step = freqs[1] - freqs[0]
    total = float(power.sum())
    n = len(power)
    kept = [f for f in targets if 0 <= f <= freqs[-1] + step / 2]
    ks = np.array([int(round(f / step)) for f in kept], dtype=np.int64)
    if ks.size == 0:
        return []
    db = power_db(power)
    offsets = np.arange(guard + 1, width + 1)
    _, floor_db = prominence(db, ks, np.r_[-offsets[::-1], offsets])
    near = np.clip(ks[:, None] + np.array([-1, 0, 1]), 0, n - 1)
    peaks = near[np.arange(len(ks)), np.argmax(power[near], axis=1)]
    return [Line(float(f), float(power[k]), float(10 ** (fl / 10)), float(db[k] - fl),
                 ratio_db(float(power[k]), total))
            for f, k, fl in zip(kept, peaks, floor_db)]


def band_power(freqs: np.ndarray, power: np.ndarray, low: float, high: float) -> float:
    """Total power in ``low <= f < high``."""
    mask = (freqs >= low) & (freqs < high)
    return float(power[mask].sum())
