"""Where a generated signal's content lies in a longer reference (for the excess over it).

The excess tonality compares a file with a reference *of the same content*. When
the reference is longer (a whole recording against an excerpt, a vocoded clip
cut from a longer utterance), only the part that holds the same content is that
reference: the rest is other speech, whose own lines would read as excess or
hide it. :func:`matching_span` finds that part in two steps:

1. **Envelope.** Both signals' levels in 10 ms frames (dB, floored 80 dB below
   the loudest frame) are slid over each other; the lag with the highest
   normalised correlation wins when that correlation is at least
   :data:`MIN_ENVELOPE_CORRELATION` (a level contour matches whatever the
   phase; pretrained HiFi-GAN V1 output matches its ground truth's at 0.97-0.99).
2. **Samples.** Around that lag (one frame either way) the waveforms of the
   first seconds are cross-correlated; the sample lag is kept when their
   normalised correlation is at least :data:`MIN_WAVE_CORRELATION`, otherwise
   the frame lag stands (a vocoder's phase may differ; the tonal statistics
   do not care about a few milliseconds).

numpy and ``scipy.fft`` only (the measure path imports no torch).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..audio.db import power_db

FRAME_S = 0.01  #: envelope frame (s)
MIN_ENVELOPE_CORRELATION = 0.9
MIN_WAVE_CORRELATION = 0.5
REFINE_S = 5.0  #: seconds of waveform the sample lag is refined on


def _envelope(x: np.ndarray, frame: int) -> np.ndarray:
    n = len(x) // frame
    frames = x[:n * frame].reshape(n, frame)
    # float64 sums without a float64 copy of the signal (einsum casts in buffers)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frame
    db = power_db(power)
    return np.maximum(db, db.max() - 80.0)  # pauses of any depth look alike


def _xcorr_valid(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``c[k] = sum(a[k:k + len(v)] * v)`` for every ``k`` with ``v`` inside ``a``."""
    import scipy.fft  # ~0.4 s to import: only when a reference is aligned

    n = scipy.fft.next_fast_len(len(a) + len(v) - 1, real=True)
    c = scipy.fft.irfft(scipy.fft.rfft(a, n) * np.conj(scipy.fft.rfft(v, n)), n)
    return c[:len(a) - len(v) + 1]


def _sliding_norm(a: np.ndarray, m: int) -> np.ndarray:
    """Centred norm of every length-``m`` window of ``a``."""
    c1 = np.concatenate([[0.0], np.cumsum(a)])
    c2 = np.concatenate([[0.0], np.cumsum(a * a)])
    s1, s2 = c1[m:] - c1[:-m], c2[m:] - c2[:-m]
    return np.sqrt(np.maximum(s2 - s1 * s1 / m, 0.0))


def _best_lag(a: np.ndarray, v: np.ndarray) -> Tuple[int, float]:
    """The lag of ``v`` in the longer ``a`` with the highest normalised (Pearson) correlation."""
    v = v - v.mean()
    vn = float(np.sqrt(np.sum(v * v)))
    an = _sliding_norm(a, len(v))
    ncc = _xcorr_valid(a, v) / np.maximum(an * vn, 1e-12)  # v is centred: a's mean drops out
    k = int(np.argmax(ncc))
    return k, float(ncc[k])


def matching_span(generated, reference, sample_rate: float) -> Optional[Tuple[int, int]]:
    """``(start, stop)`` samples of ``reference`` holding ``generated``'s content, or ``None``.

    ``None`` when the reference is not longer than the file by more than one
    envelope frame (nothing to choose) or when no part of it matches
    (see the module docstring for how and how strictly).
    """
    g, r = np.asarray(generated), np.asarray(reference)  # float64 only for the pieces correlated
    frame = max(1, int(round(FRAME_S * sample_rate)))
    if len(r) - len(g) <= frame or len(g) < 10 * frame:
        return None
    lag, corr = _best_lag(_envelope(r, frame), _envelope(g, frame))
    if corr < MIN_ENVELOPE_CORRELATION:
        return None
    start = lag * frame
    piece = g[:int(REFINE_S * sample_rate)].astype(np.float64)
    lo = max(0, start - frame)
    window = r[lo:min(len(r), start + frame + len(piece))].astype(np.float64)
    if len(window) >= len(piece) and np.any(piece):
        k, wave_corr = _best_lag(window, piece)
        if wave_corr >= MIN_WAVE_CORRELATION:
            start = lo + k
    start = min(start, len(r) - len(g))
    return start, start + len(g)
