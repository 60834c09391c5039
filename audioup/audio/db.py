"""Decibels with one floor: scalars for reported ratios, arrays for plotted spectra.

Two floors, defined here once and used by the metrics and the analysis alike:

- :data:`DB_FLOOR` (-300 dB) is what a reported ratio of exactly zero reads
  (JSON has no ``-inf``); float64 rounding of "nothing" sits near it.
- :data:`DB_RANGE` (150 dB) is how far below its peak (or another reference)
  a spectrum is floored before taking logs, so a digital-silence bin reads
  -150 dB re peak instead of ``-inf``.

Only numpy and math: the ``measure`` path imports this without torch.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

#: What an exactly-zero ratio reports (instead of -inf, which JSON cannot hold).
DB_FLOOR = -300.0
#: Spectra are floored this many dB below their reference (default: their peak).
DB_RANGE = 150.0


def to_db(ratio: float) -> float:
    """``10 log10(ratio)`` of a power ratio, floored at :data:`DB_FLOOR` (``inf`` stays ``inf``).

    >>> to_db(100.0), to_db(0.0)
    (20.0, -300.0)
    """
    if not ratio > 0:
        return DB_FLOOR
    if math.isinf(ratio):
        return float("inf")
    return max(DB_FLOOR, 10.0 * math.log10(ratio))


def ratio_db(num: float, den: float) -> float:
    """``10 log10(num / den)`` of two powers, floored like :func:`to_db`, also when ``den`` is 0.

    Nothing over nothing reads :data:`DB_FLOOR`; something over nothing ``inf``.

    >>> ratio_db(1.0, 0.01), ratio_db(0.0, 1.0), ratio_db(0.0, 0.0), ratio_db(1.0, 0.0)
    (20.0, -300.0, -300.0, inf)
    """
    if den > 0:
        return to_db(num / den)
    return to_db(float("inf") if num > 0 else 0.0)


def power_db(power, ref: Optional[float] = None) -> np.ndarray:
    """``10 log10(power)`` floored :data:`DB_RANGE` dB below ``ref`` (default: the peak of ``power``).

    The floor is added (``power + ref * 10^(-DB_RANGE/10)``), so the curve bends
    smoothly into it. Values are dB re 1, not re ``ref``.
    """
    power = np.asarray(power, dtype=np.float64)
    ref = float(np.nanmax(power)) if ref is None else float(ref)
    eps = max(ref, 1e-30) * 10.0 ** (-DB_RANGE / 10.0)
    return 10.0 * np.log10(power + eps)


def relative_db(power, ref: Optional[float] = None) -> np.ndarray:
    """``power`` in dB re ``ref`` (default: its peak, which reads 0 dB), floored like :func:`power_db`."""
    power = np.asarray(power, dtype=np.float64)
    ref = max(float(np.nanmax(power)) if ref is None else float(ref), 1e-300)
    return power_db(power / ref, ref=1.0)


__all__ = ["DB_FLOOR", "DB_RANGE", "to_db", "ratio_db", "power_db", "relative_db"]
