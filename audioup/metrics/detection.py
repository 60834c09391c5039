"""Blind detection: the hop estimate, stationary peaks, the pitch check and the record's warnings.

See :mod:`audioup.metrics.tonal` for the score; these name what it measured.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .frames import whole_frames
from .prominence import prominence_spectrum
from .stationary import StationaryResult, StationarySpectrum, _as_numpy
from .tones import default_n_fft, layer_input_rates

MIN_ACTIVE_FRAMES = 5  #: fewer active frames: ``too_short``
MOSTLY_SILENCE = 0.3  #: active share below this: ``mostly_silence``
PEAK_MIN_DB = 10.0  #: a stationary peak for the pitch check stands this far over its floor
HOP_MIN_Z = 8.0  #: a blind comb counts when it stands this many standard errors out
MIN_DETECT_FRAMES = 10
HARMONIC_TOL_BINS = 1.5  #: a peak is a harmonic when within this many bins of a multiple of f0
LOW_HARMONICS, LOW_HARMONICS_MIN = 4, 2  #: a harmonic series holds at least 2 of harmonics 1..4

WARNING_CODES = {
    "too_short": "fewer than 5 active frames (about 1 s): the score is noisy",
    "mostly_silence": "less than 30 % of the frames are active; see the pause figure",
    "band_limited": "the signal has no energy in part of the band; those lines are left out of the score",
    "pitched_content": "stationary harmonics that are not a layer rate: a held note or hum, not an upsampler",
    "hop_mismatch": "the strongest comb has a spacing the given hop cannot produce",
    "unmatched_comb": "a comb whose spacing matches no layer's input rate",
}
NO_REFERENCE_ADVICE = ("; without a reference a note cannot be told from an artifact: measure with "
                       "--reference (same content)")
REFERENCE_ADVICE = "; read excess_tonal_db, the score over the reference (same content)"


def warning(code: str, message: str) -> dict:
    """A record warning: ``{"code", "message"}`` (codes: :data:`WARNING_CODES`, ``note`` for the rest)."""
    return {"code": code, "message": message}


# Blind hop estimate and the pitch check


def estimate_hop(db: np.ndarray, sample_rate: float, n_fft: int, min_hop: int = 4,
                 max_hop: int = 1024) -> Optional[Tuple[int, float]]:
    """The integer hop whose comb (every multiple of ``sr / hop``) stands out most, blind.

    For each candidate hop ``h`` (at least 8 bins between its lines) the mean of
    ``max(prominence, 0)`` at its lines (the larger of the two bins around a
    line that falls between bins) is compared with the same comb shifted by a
    quarter, half and three quarters of its spacing, in standard errors (``z``).
    The hop with the largest ``z`` wins if ``z >= HOP_MIN_Z``; a hop and its
    divisors read alike on a full comb, a multiple reads half, so the largest
    ``z`` lands on the comb's own spacing. The grid's mean leaves out its
    strongest line, so that one line (a lone Nyquist line) is not a comb.

    Returns:
        ``(hop, z)`` or ``None`` when no comb stands out.
    """
    pc = np.maximum(prominence_spectrum(db), 0)
    nb = len(pc)
    lo_bin = int(np.ceil(50.0 * n_fft / sample_rate))
    pc[:lo_bin] = 0.0
    sd = float(pc[lo_bin:].std()) or 1.0
    # a line between bins b and b + 1 reads the larger of the two; mirrored past Nyquist
    ext = np.concatenate([pc, pc[-2:0:-1], pc[:2]])
    pair = np.maximum(ext[:-1], ext[1:])
    best = None
    for h in range(min_hop, min(max_hop, n_fft // 8) + 1):
        s = n_fft / h
        x = np.arange(1, h // 2 + 1) * s
        x = x[x <= nb - 1]
        if x.size < 2:
            continue
        grids = x[None, :] + np.array([0.0, 0.25, 0.5, 0.75])[:, None] * s
        vals = pair[np.floor(grids).astype(np.int64)]
        v = vals.mean(axis=1)
        # the grid without its strongest line: one line (a lone Nyquist line, say) is no comb
        on = (vals[0].sum() - vals[0].max()) / (x.size - 1)
        z = (on - v[1:].mean()) / (sd / np.sqrt(x.size - 1))
        if best is None or z > best[1]:
            best = (h, float(z))
    if best is None or best[1] < HOP_MIN_Z:
        return None
    return _finer_comb(pair, sd, best, n_fft, nb)


def _finer_comb(pair: np.ndarray, sd: float, best: Tuple[int, float], n_fft: int,
                nb: int) -> Tuple[int, float]:
    """``best`` or the finer comb it is part of, beyond the search's 8-bin limit.

    A comb spaced under 8 bins (20 Hz: 3.4 bins at 48 kHz) is found at a
    multiple of its spacing (60 Hz: hop 800, read as mains hum). For ``d = 2..8``
    the positions between the found lines, ``(k + j / d)`` of its spacing, are
    compared with the same positions shifted by half the finer spacing: when
    they stand out as the found lines do (``z >= HOP_MIN_Z`` and at least half
    their mean), the comb is ``d`` times finer (hop ``d * h``); the largest such
    ``d`` wins.
    """
    h, _ = best
    x = np.arange(1, h // 2 + 1) * (n_fft / h)
    main = pair[np.floor(x[x <= nb - 1]).astype(np.int64)].mean()
    out = best
    for d in range(2, 9):
        fine = n_fft / (h * d)
        if fine < 2.0:
            break
        k = np.arange(1, int((nb - 1) / fine) + 1)
        k = k[k % d != 0]
        if k.size < 4:
            continue
        on = pair[np.floor(k * fine).astype(np.int64)]
        off = pair[np.floor(k * fine + fine / 2).astype(np.int64)]
        z = float((on.mean() - off.mean()) / (sd / np.sqrt(k.size)))
        if z >= HOP_MIN_Z and on.mean() >= 0.5 * main:
            out = (h * d, z)
    return out


def stationary_peaks(db: np.ndarray, sample_rate: float, n_fft: int, min_db: float = PEAK_MIN_DB,
                     max_peaks: int = 40, min_freq_hz: float = 50.0) -> List[Tuple[float, float]]:
    """Local maxima standing ``min_db`` over their floor: ``[(freq_hz, prominence_db)]``, strongest first."""
    prom = prominence_spectrum(db)
    nb = len(db)
    left, right = np.r_[db[1], db[:-1]], np.r_[db[1:], db[-2]]
    cand = np.flatnonzero((db >= left) & (db > right) & (prom >= min_db))
    df = sample_rate / n_fft
    cand = cand[(cand * df >= min_freq_hz) & (cand < nb - 1)]
    out = []
    for b in cand[np.argsort(-prom[cand])][:max_peaks]:
        a, c = db[b - 1], db[b + 1]
        den = a - 2 * db[b] + c
        delta = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0
        out.append(((b + delta) * df, float(prom[b])))
    return out


def harmonic_series(freqs: Sequence[float], bin_hz: float) -> Optional[Tuple[float, int]]:
    """The fundamental explaining most of ``freqs`` as harmonics: ``(f0, matches)`` or ``None``.

    Candidates are the strongest peaks divided by 1..8 and the spacings between
    them (at least 30 Hz); a peak matches when it lies within
    :data:`HARMONIC_TOL_BINS` bins of a multiple (a tolerance in bins, not a
    share of the frequency: 0.3 % is 29 Hz at 10 kHz, enough for a few high
    vocoder lines and one low speech peak to look like harmonics of anything).
    A series must hold at least :data:`LOW_HARMONICS_MIN` of the harmonics
    1..:data:`LOW_HARMONICS` (a held note has its low partials; a comb seen
    only in the high band, or lines that happen to fall near multiples of a
    low peak, do not). Among candidates with nearly the most matches the
    highest wins (a subharmonic explains as much, and more by chance). ``f0``
    is then refined by least squares.
    """
    f = np.asarray(freqs, dtype=float)
    if f.size < 3:
        return None
    tol = HARMONIC_TOL_BINS * bin_hz

    def matches(f0):
        n = np.round(f / f0)
        return (n >= 1) & (np.abs(f - n * f0) <= tol)

    def count(f0):
        m = matches(f0)
        low = np.unique(np.round(f[m] / f0))
        return int(m.sum()) if (low <= LOW_HARMONICS).sum() >= LOW_HARMONICS_MIN else 0

    # plus the spacings between them: the strongest lines of a high comb can be harmonics 20-30
    top8 = f[:8]
    cands = sorted({fi / n for fi in top8 for n in range(1, 9) if fi / n >= 30.0}
                   | {abs(a - b) for a in top8 for b in top8 if abs(a - b) >= 30.0})
    counts = [(count(c), c) for c in cands]
    top = max(c for c, _ in counts)
    if top < 3:
        return None
    f0 = max(c for n, c in counts if n >= 0.9 * top)
    m = matches(f0)
    n = np.round(f[m] / f0)
    f0 = float((f[m] * n).sum() / (n * n).sum())
    return (f0, count(f0)) if count(f0) >= 3 else None


def _warnings(spectra, res, db, sr, factors, hop, n_fft, est, band_top, freqs, in_band):
    """``(warnings, est)``: the record's warnings and the blind comb estimate (``None`` where it
    latched onto a held note)."""
    out = []
    whole = whole_frames(res.n_frames, n_fft, spectra.frame_step or n_fft)
    if whole < MIN_ACTIVE_FRAMES:
        out.append(warning("too_short", f"only {whole:.1f} active frames' worth of {n_fft / sr:.2f} s: "
                                        f"the score is noisy; measure at least "
                                        f"{MIN_ACTIVE_FRAMES * n_fft / sr:.1f} s of signal"))
    if spectra.active_fraction < MOSTLY_SILENCE:
        out.append(warning("mostly_silence", f"only {100 * spectra.active_fraction:.0f} % of the frames are "
                                             "active; the score reads those, see 'pause' for the rest"))
    if band_top < 0.8 * sr / 2 and (~in_band).any():
        out.append(warning("band_limited", f"the signal has no energy above about {band_top / 1000:.1f} kHz; "
                                           f"{int((~in_band).sum())} lines there are left out of the score "
                                           "(see bands and tonal_max_db)"))
    df = sr / n_fft
    peaks = stationary_peaks(db, sr, n_fft)
    rates = layer_input_rates(sr, factors)

    def at_rate(f: float) -> bool:  # within half a bin of a layer's input rate
        return any(abs(f - r) < 0.5 * df for r in rates)

    rate_list = ", ".join(f"{r:g}" for r in rates)
    pitched, f0, hum = None, None, None
    series = harmonic_series([f for f, _ in peaks], df) if len(peaks) >= 3 else None
    if series is not None and series[1] >= max(3, 0.25 * len(peaks)):
        f0 = series[0]
        h = max(1, round(sr / f0))
        top_n = max(round(f / f0) for f, _ in peaks)
        # f0 is a least-squares fit over every matched partial (each located to a small
        # fraction of a bin), so a comb of hop h puts its top partial well within half a bin
        # of top_n * sr / h; a note 0.07 % off the grid (C#3 = 138.59 Hz vs 22050 / 159)
        # lands about a bin away there and is pitched content, not a comb of hop h
        on_integer_hop = abs(sr / h - f0) * top_n < 0.5 * df
        # the predicted grid holds every multiple of sr / hop, so a series at 5 x 86.13 Hz
        # (430.66 Hz = 22050 / 51.2, the strongest lines of a random HiFi-GAN's comb of hop
        # 256) is on it although no integer hop has that rate: such a series is judged as an
        # on-grid one below, not as a note off every grid
        on_grid = abs(f0 - max(1, round(f0 * hop / sr)) * sr / hop) * top_n < 0.5 * df
        on_integer_hop = on_integer_hop or on_grid
        is_layer_rate = at_rate(f0)
        if _is_hum(f0):
            pitched = f"stationary lines at harmonics of {f0:.2f} Hz: mains hum, not an upsampler"
        elif not on_integer_hop:
            pitched = (f"stationary lines at harmonics of {f0:.2f} Hz, which no integer hop produces: "
                       "a held note or other pitched content")
        elif on_grid and not is_layer_rate and not (
                est is not None and at_rate(sr / est[0])
                and _comb_beyond_series([f for f, _ in peaks], sr / est[0], f0, df)):
            # (a full comb at a layer rate, found blind, explains lines at its multiples: it
            # has lines between them, which a note lacks)
            pitched = (f"lines only at multiples of {f0:.2f} Hz, which is on the predicted grid but "
                       f"not a layer's input rate ({rate_list} Hz): probably a held note")
    if est is not None and _is_hum(sr / est[0]):
        pitched = pitched or f"a comb of {sr / est[0]:.2f} Hz: mains hum, not an upsampler"
        hum, est = est, None  # still reported as the estimate: the hum's comb is real
    if pitched:
        out.append(warning("pitched_content", pitched + NO_REFERENCE_ADVICE))
        if est is not None and f0 is not None and (
                (not on_integer_hop and _related(sr / est[0], f0))
                or _note_explains_comb([f for f, _ in peaks], sr / est[0], f0, df)):
            est = None  # the comb search latched onto the note (or onto a subharmonic of it)
    if est is not None and hop % est[0]:
        out.append(warning("hop_mismatch", f"the strongest comb is spaced {sr / est[0]:.2f} Hz "
                                           f"(hop {est[0]}), which hop {hop} cannot produce; "
                                           f"use --hop {est[0]} or --hop auto"))
    elif est is not None and not at_rate(sr / est[0]):
        # a fact, whatever the pitch check makes of it (a full comb at sr/64 may be either)
        out.append(warning("unmatched_comb", f"the strongest comb is spaced {sr / est[0]:.2f} Hz "
                                             f"(hop {est[0]}), which is no layer's input rate "
                                             f"({rate_list} Hz)"))
    return out, est or hum


def _near(f: np.ndarray, g: float, df: float) -> np.ndarray:
    """Which of the frequencies ``f`` lie within :data:`HARMONIC_TOL_BINS` bins of a multiple of ``g``."""
    n = np.round(f / g)
    return (n >= 1) & (np.abs(f - n * g) <= HARMONIC_TOL_BINS * df)


def _note_explains_comb(peaks: Sequence[float], spacing: float, f0: float, df: float) -> bool:
    """Most stationary peaks on the comb (within 1.5 bins of a multiple of ``spacing``) are
    harmonics of the note ``f0``: a comb found blind at a rational multiple of a note (B3 at
    123.47 Hz reads as a comb of 82.28 Hz = hop 268 at 22.05 kHz, its harmonics 2k falling near
    the comb's lines 3k), or at a divisor of a note on the predicted grid, not a comb of its own."""
    f = np.asarray(peaks, dtype=float)
    on = _near(f, spacing, df)
    return on.sum() >= 3 and (_near(f, f0, df) & on).sum() >= 0.7 * on.sum()


def _comb_beyond_series(peaks: Sequence[float], spacing: float, f0: float, df: float) -> bool:
    """The comb ``spacing`` has lines between the partials of the series ``f0`` (a multiple of it).

    A random HiFi-GAN's comb of 86.13 Hz whose strongest lines happen to fall on the multiples
    of 430.66 Hz (5 x 86.13) holds a series of 430.66 Hz, but most of the peaks that series
    leaves unexplained are lines of the comb too. A note of 430.66 Hz leaves only chance hits
    there (about 3 bins in 16 lie within 1.5 bins of a line of hop 256 at n_fft 4096): the comb
    counts when at least 3, and half of those peaks, are its lines.
    """
    f = np.asarray(peaks, dtype=float)
    rest = ~_near(f, f0, df)
    between = (_near(f, spacing, df) & rest).sum()
    return between >= 3 and between >= 0.5 * rest.sum()


def _is_hum(f0: float) -> bool:
    return any(abs(f0 - m) < 0.01 * m for m in (50.0, 60.0))


def _related(a: float, b: float) -> bool:
    """``a`` and ``b`` within 2 % of an integer ratio."""
    r = max(a, b) / min(a, b)
    return abs(r - round(r)) < 0.02 * r


def detect_lines(result: StationaryResult, min_prominence_db: float = 10.0,
                 min_persistence: float = 0.5, max_tones: int = 20,
                 min_freq_hz: float = 50.0, min_frames: int = MIN_DETECT_FRAMES) -> List[dict]:
    """Stationary lines in an accumulated spectrum, blind (needs ``persistence``).

    Local maxima that stand ``min_prominence_db`` over the median of the bins
    4 to 8 away and whose *persistence* (share of frames in which the bin
    stands 6 dB above the mean of its neighbours) is at least
    ``min_persistence``. Lines below ``min_freq_hz`` (DC offset, rumble) are not
    reported. With fewer than ``min_frames`` frames nothing is reported.

    Returns:
        ``[{"freq_hz", "prominence_db", "persistence"}, ...]``, most prominent first.
    """
    if result.persistence is None:
        raise ValueError("the spectrum was accumulated without persistence=True")
    if result.n_frames < min_frames:
        return []
    db = result.power_db()
    n_fft = 2 * (len(db) - 1)
    nb = len(db)
    pers = np.maximum.reduce([np.pad(result.persistence, 1, mode="edge")[i:i + nb] for i in range(3)])
    found = []
    for f, prom in stationary_peaks(db, result.freqs[1] * n_fft, n_fft, min_prominence_db,
                                    max_peaks=nb, min_freq_hz=min_freq_hz):
        b = int(round(f / result.freqs[1]))
        if pers[b] < min_persistence or any(abs(f - g["freq_hz"]) <= 3.5 * result.freqs[1] for g in found):
            continue
        found.append({"freq_hz": round(f, 3), "prominence_db": round(prom, 3),
                      "persistence": round(float(pers[b]), 4)})
        if len(found) == max_tones:
            break
    return found


def detect_tones(wav, sample_rate: float, n_fft: Optional[int] = None,
                 min_prominence_db: float = 10.0, min_persistence: float = 0.5,
                 max_tones: int = 20, min_freq_hz: float = 50.0) -> List[dict]:
    """Blind detection of stationary lines anywhere in the spectrum.

    Args:
        wav: ``(T,)`` samples.
        sample_rate: Hz.
        n_fft: analysis size (default about 0.19 s: 4096 at 22.05 kHz).
        min_prominence_db: over the median of bins 4..8 away.
        min_persistence: share of frames in which the line stands out.
        max_tones: most prominent lines kept.
        min_freq_hz: ignore lines below this (DC offset, rumble).

    Returns:
        ``[{"freq_hz", "prominence_db", "persistence"}, ...]``, most prominent first.
    """
    n_fft = n_fft or default_n_fft(sample_rate, 256)
    wav = _as_numpy(wav, n_fft)
    res = StationarySpectrum(sample_rate, n_fft, persistence=True).update(wav).result()
    return detect_lines(res, min_prominence_db, min_persistence, max_tones, min_freq_hz)


__all__ = ["estimate_hop", "stationary_peaks", "harmonic_series", "detect_lines", "detect_tones", "warning",
           "WARNING_CODES", "NO_REFERENCE_ADVICE", "REFERENCE_ADVICE", "HOP_MIN_Z", "MIN_DETECT_FRAMES"]
