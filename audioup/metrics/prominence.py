"""Line prominence: a bin over the median of its neighbours, the one definition of the metrics."""
from __future__ import annotations

from typing import Tuple

import numpy as np

FLOOR_MIN_OFFSET = 4  #: floor bins start this far from a line

def floor_offsets(spacing: int) -> np.ndarray:
    """Bin offsets whose median is a line's local floor: +-4 .. +-(spacing / 2)."""
    half = np.arange(FLOOR_MIN_OFFSET, max(FLOOR_MIN_OFFSET + 1, spacing // 2) + 1)
    return np.concatenate([-half[::-1], half])


def null_offsets(spacing: int) -> np.ndarray:
    """Shifts of the shifted grids: every bin at least 4 away from a predicted line."""
    return np.arange(FLOOR_MIN_OFFSET, spacing - FLOOR_MIN_OFFSET + 1)


def _mirror(pos: np.ndarray, nb: int) -> np.ndarray:
    """Fold bin indices beyond 0 / Nyquist back (a real signal's spectrum mirrors there)."""
    pos = np.abs(pos)
    return np.where(pos > nb - 1, 2 * (nb - 1) - pos, pos)


def prominence(db: np.ndarray, positions: np.ndarray, offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(db[pos] - floor, floor)`` with floor the median of ``db`` at ``pos + offsets`` (dB).

    The one line-prominence definition of the metrics (any ``positions`` shape).
    """
    nb = len(db)
    pos = _mirror(np.asarray(positions), nb)
    nbr = db[_mirror(pos[..., None] + offsets, nb)]
    floor = np.median(nbr, axis=-1)
    return db[pos] - floor, floor



def prominence_spectrum(db: np.ndarray) -> np.ndarray:
    """Every bin's prominence over the median of the bins 4..8 away (dB)."""
    return prominence(db, np.arange(len(db)), floor_offsets(16))[0]


__all__ = ["prominence", "prominence_spectrum", "floor_offsets", "null_offsets", "FLOOR_MIN_OFFSET"]
