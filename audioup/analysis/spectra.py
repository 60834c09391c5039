"""Spectrum helpers for the diagnostics: an averaged periodogram and the prominence of known lines."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from .probe import to_db


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
    ``guard`` bins on each side (so the window's own leakage is not counted).

    Args:
        freqs, power: a spectrum (e.g. from :func:`power_spectrum`).
        targets: line frequencies, same unit as ``freqs``; those beyond the
            last bin are skipped.
        guard, width: bins, see above.
    """
    step = freqs[1] - freqs[0]
    total = float(power.sum())
    lines: List[Line] = []
    n = len(power)
    for f in targets:
        if f < 0 or f > freqs[-1] + step / 2:
            continue
        k = int(round(f / step))
        lo, hi = max(0, k - 1), min(n, k + 2)
        peak = float(power[lo:hi].max())
        near = np.r_[max(0, k - width):max(0, k - guard), min(n, k + guard + 1):min(n, k + width + 1)]
        floor = float(np.median(power[near])) if near.size else 0.0
        prominence = to_db(peak / floor) if floor > 0 else (to_db(float("inf")) if peak > 0 else 0.0)
        lines.append(Line(float(f), peak, floor, prominence, to_db(peak / total) if total > 0 else to_db(0.0)))
    return lines


def band_power(freqs: np.ndarray, power: np.ndarray, low: float, high: float) -> float:
    """Total power in ``low <= f < high``."""
    mask = (freqs >= low) & (freqs < high)
    return float(power[mask].sum())
