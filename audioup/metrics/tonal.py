"""The tonal score (v2): how far an upsampler's predicted lines stand out, null-corrected.

An upsampling schedule with hop ``H`` can put lines at every multiple of
``sr / H`` (:mod:`audioup.metrics.tones`). With ``n_fft`` a multiple of the hop,
line ``k`` sits exactly on bin ``k * m`` (``m = n_fft / H >= 16`` bins between
lines). The definition, in order:

1. **Active frames.** The signal is cut into non-overlapping Hann frames of
   ``n_fft`` (about 0.19 s). A frame is *active* when its level (power
   outside the predicted lines, so that a comb does not make a pause active)
   is within :data:`ACTIVE_RANGE_DB` (35 dB) of the 95th percentile of frame
   levels; the others are *pause*. Each set gets its own stationary spectrum, the
   per-bin median over its frames (:class:`~audioup.metrics.stationary.StationarySpectrum`),
   so the share of silence no longer decides which spectrum is scored.
2. **Prominence.** A line's prominence is its bin over the local floor, the
   median of the bins 4 to ``m / 2`` away on both sides, in dB (+-3 bins are
   left out so that a line smeared by the window or by vibrato does not raise
   its own floor). In the reported lines (``tones``, ``tonal_max_db``) a bin
   more than :data:`SKIRT_DB` under a bin 2-3 away is the skirt of a tone
   beside the line, not a line, and reads at most 0 (the score keeps the
   plain prominence: its null correction already discounts such chance hits).
3. **Signal band.** Lines whose floor in the long-term *mean* spectrum of the
   active frames lies more than :data:`BAND_RANGE_DB` below the loudest floors
   sit where the signal has no energy (above the bandwidth of a 16 kHz
   recording played at 44.1 kHz, say); the score reads only the lines inside
   the band, so the same speech and comb score alike at 22.05, 44.1 and
   48 kHz. The mean, not the per-bin median: speech's energy above 4-5 kHz is
   in its fricatives, a minority of the frames, and a vocoder's comb there
   (HiFi-GAN's at 7-9.6 kHz) must count. All lines still count for
   ``tonal_max_db``, the per-band figures and the top lines.
4. **Null correction.** The same statistic, the mean over the in-band lines of
   ``max(prominence, 0)``, is evaluated on the predicted grid and on every
   shifted grid ``k * m + d`` (``d = 4 .. m - 4`` bins, which hold no predicted
   line). ``tonal_score_db`` is the grid's value minus the mean of the shifted
   ones, ``null_spread_db`` their standard deviation. Audio without lines reads
   0 +- ``null_spread_db`` at any length; a comb reads how far it stands out.
5. **Level.** Each line's ``level_db`` is the power of a sinusoid that would
   fill its bin, in dB re the mean power of the active frames;
   ``comb_level_db`` the summed power above their floors of the lines standing
   6 dB or more out, re the same.

Other figures: ``tonal_max_db`` (the largest raw prominence) with
``null_max_db`` (what the largest of a shifted grid reads); per-band scores
(below 4 kHz, 4-8 kHz, above 8 kHz, every line in the band, null-corrected);
per-layer scores on each layer's *exclusive* lines (multiples of its input
rate that are not multiples of a later layer's); the pause spectrum scored the
same way (``pause``); a blind hop estimate (:func:`estimate_hop`: the integer
hop whose comb stands out most on the active spectrum) and warnings
(:data:`WARNING_CODES`).

What it cannot do: an on-grid held note (harmonics of 172.27 Hz measured with
hop 256 at 22.05 kHz) puts lines where an artifact would. Harmonic series that
are not a layer rate get a ``pitched_content`` warning; for music or other
pitched material, measure against a reference of the same content
(``excess_tonal_db``).

Reference mode: ``excess_tonal_db`` is the generated file's score minus the
reference's, computed on like content (:func:`audioup.metrics.record.reference_excess`):
a longer reference is cut to the part holding the file's content
(:mod:`audioup.metrics.align`), so an excerpt of a recording against the whole
reads 0. For a pair shorter than :data:`SHORT_FRAMES` frames (~30 s) both are
scored with frames every ``n_fft / 4`` (:func:`frame_step`), whose medians are
steadier. ``excess_spread_db`` (both null spreads in quadrature) is its noise
when the two differ: two different 1 s stretches of speech differ by 0.16 dB
(sd), 3 s by 0.08 dB.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..audio.db import DB_RANGE, power_db, ratio_db
from .stationary import (
    StationaryResult,
    StationarySpectrum,
    _as_numpy,
    hann,
    merged_result,
    stft_power,
)
from .tones import default_n_fft, layer_input_rates, predicted_tones, resolve_schedule

ACTIVE_RANGE_DB = 35.0  #: active frames: energy within this of the 95th percentile
ACTIVE_PERCENTILE = 95.0
BAND_RANGE_DB = 40.0  #: in-band lines: floor within this of the loudest floors (90th percentile)
FLOOR_MIN_OFFSET = 4  #: floor bins start this far from a line
BAND_EDGES_HZ = (4000.0, 8000.0)
MIN_ACTIVE_FRAMES = 5  #: fewer active frames: ``too_short``
MOSTLY_SILENCE = 0.3  #: active share below this: ``mostly_silence``
MIN_PAUSE_FRAMES = 5
PEAK_MIN_DB = 10.0  #: a stationary peak for the pitch check stands this far over its floor
HOP_MIN_Z = 8.0  #: a blind comb counts when it stands this many standard errors out
MIN_DETECT_FRAMES = 10
#: the shifted grids' standard deviation times this is ``null_spread_db``: they are neighbours of the
#: grid, not independent draws, and understate the noise of real clean recordings
#: (benchmarks/calibrate_null_spread.py, benchmarks/RESULTS.md)
NULL_SPREAD_SCALE = 1.63
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


@dataclass
class TonalScore:
    """The v2 tonal score of one signal (see the module docstring).

    Attributes:
        tonal_score_db: null-corrected mean of ``max(prominence, 0)`` over the in-band lines.
        tonal_max_db: largest prominence over all predicted lines.
        null_spread_db: standard deviation of the score on shifted grids (what is noise).
        null_max_db: mean over shifted grids of their largest prominence.
        comb_level_db: power of all lines above their floors, dB re the active signal (``None``: none).
        bands: ``[{"lo_hz", "hi_hz", "n_tones", "score_db", "max_db"}, ...]``.
        tones: ``{"freq_hz", "prominence_db", "level_db", "layer", "in_band"}`` per predicted line,
            increasing frequency.
        per_layer: ``{"layer1": {"factor", "input_rate_hz", "n_tones", "mean_db", "max_db"}, ...}``
            on exclusive lines, ``mean_db`` null-corrected.
        pause: the same figures for pause frames (``None`` when too few).
        active_fraction: share of frames that are active.
        estimated_hop: blind hop estimate (``None``: no significant comb).
        signal_band_hz: the highest in-band line's frequency.
        warnings: ``[{"code", "message"}, ...]``.
        sample_rate, factors, hop, n_fft, n_frames: how it was measured (``n_frames`` active).
    """

    tonal_score_db: float
    tonal_max_db: float
    null_spread_db: float
    null_max_db: float
    comb_level_db: Optional[float]
    bands: List[dict]
    tones: List[dict]
    per_layer: Dict[str, dict]
    pause: Optional[dict]
    active_fraction: float
    estimated_hop: Optional[int]
    signal_band_hz: float
    warnings: List[dict]
    sample_rate: float
    factors: tuple
    hop: int
    n_fft: int
    n_frames: int = 0
    spectrum: Optional[StationaryResult] = field(default=None, repr=False)

    @property
    def max_db(self) -> float:
        """Alias of :attr:`tonal_max_db` (the v1 name)."""
        return self.tonal_max_db

    def strongest(self, n: int = 10) -> List[dict]:
        """The ``n`` most prominent predicted lines, strongest first."""
        return sorted(self.tones, key=lambda t: -t["prominence_db"])[:n]

    def has_warning(self, code: str) -> bool:
        return any(w["code"] == code for w in self.warnings)

    def to_dict(self, max_tones: Optional[int] = None) -> dict:
        """JSON-ready dict; ``max_tones`` keeps only the strongest lines (sorted strongest first)."""
        d = asdict(self)
        d.pop("spectrum")
        d["factors"] = list(self.factors)
        if max_tones is not None:
            d["tones"] = self.strongest(max_tones)
        return d


# ---------------------------------------------------------------------------------------------
# Streaming analysis: one pass, frames sorted by level into buckets of remedians

BUCKET_DB = 3.0  #: width of the frame-level buckets the active / pause split is made from
SHORT_FRAMES = 160  #: excess over a reference shorter than this many frames (~30 s): frames overlap by 3/4


@dataclass
class Spectra:
    """What one analysis of a signal gives (active / pause stationary spectra and the frame split)."""

    active: StationaryResult
    pause: Optional[StationaryResult]
    active_fraction: float
    signal_power: float  # mean square of the active frames
    n_samples: int
    frame_step: int = 0  # samples between frame starts (0: n_fft, no overlap)
    mean_power: Optional[np.ndarray] = None  # per-bin mean power of the active frames (the signal band)


def _frames(pending: np.ndarray, block: np.ndarray, n: int, step: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(F, n)`` frames every ``step`` samples of ``pending + block`` and the samples left over."""
    buf = np.concatenate([pending, block]) if pending.size else block
    if step == n:
        f = buf.size // n
        return buf[:f * n].reshape(f, n), buf[f * n:].copy()
    f = 0 if buf.size < n else 1 + (buf.size - n) // step
    frames = np.lib.stride_tricks.as_strided(buf, shape=(f, n), strides=(step * buf.strides[0], buf.strides[0]),
                                             writeable=False)
    return frames, buf[f * step:].copy()


def whole_frames(n_frames: int, n_fft: int, step: int) -> float:
    """How many non-overlapping frames ``n_frames`` frames every ``step`` samples are worth (the span they cover)."""
    return n_frames if step >= n_fft or n_frames == 0 else (n_frames - 1) * step / n_fft + 1


def frame_step(n_samples: int, n_fft: int) -> int:
    """Frame step of the excess over a reference: ``n_fft // 4`` below :data:`SHORT_FRAMES` frames.

    Four times the frames make the medians of a 1-3 s pair steadier (the spread
    of an excerpt's excess over its whole reference: 0.21 -> 0.16 dB at 1 s,
    0.15 -> 0.08 dB at 3 s); the score itself keeps whole frames at every
    length (a strong comb reads up to ~1 dB differently with overlapping frames,
    and a long file keeps its speed).
    """
    return n_fft // 4 if n_samples < SHORT_FRAMES * n_fft else n_fft


def _line_mask(n_fft: int, hop: Optional[int]) -> np.ndarray:
    """Bins that count for a frame's level: all but the predicted lines and their neighbours."""
    keep = np.ones(n_fft // 2 + 1, bool)
    if hop:
        spacing = n_fft // hop
        for d in (-1, 0, 1):
            idx = np.arange(spacing, n_fft // 2 + 2, spacing) + d
            keep[idx[(idx >= 0) & (idx <= n_fft // 2)]] = False
    return keep


def analyse(blocks: Iterable[np.ndarray], sample_rate: float, n_fft: int, hop: Optional[int] = None,
            batch: int = 128, step: Optional[int] = None) -> Spectra:
    """One pass over ``blocks`` (the signal as float32 blocks, any sizes).

    Frames start every ``step`` samples (default ``n_fft``: no overlap; see
    :func:`frame_step`). Each Hann frame's power spectrum goes to the remedian of
    its level bucket (:data:`BUCKET_DB` wide; the level leaves out the
    predicted lines of ``hop`` and their neighbours, so a comb does not make a
    pause look active). At the end the buckets within :data:`ACTIVE_RANGE_DB`
    of the 95th percentile of frame levels are merged into the active median,
    the rest into the pause median. Memory: one block, one batch of frames, a
    few remedian rows per bucket and one float per frame.

    Raises:
        ValueError: shorter than one frame, or digital silence throughout.
    """
    n = int(n_fft)
    step = int(step or n)
    window = hann(n)
    lines = np.flatnonzero(~_line_mask(n, hop))
    win_ms = float(np.sum(window.astype(np.float64) ** 2))
    levels, powers, accs, sums = [], [], {}, {}
    pending, total = np.zeros(0, np.float32), 0
    for block in blocks:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        total += block.size
        fr, pending = _frames(pending, block, n, step)
        for s in range(0, len(fr), batch):
            power = stft_power(fr[s:s + batch], window)
            full = power.sum(axis=1, dtype=np.float64)
            level = full - power[:, lines].sum(axis=1, dtype=np.float64)
            powers.append(full)
            levels.append(level)
            key = _level_bucket(level)
            for k in np.unique(key):
                if k not in accs:
                    accs[k] = StationarySpectrum(sample_rate, n, step=n)
                    sums[k] = np.zeros(power.shape[1], np.float64)
                accs[k].add_power(power[key == k])
                sums[k] += power[key == k].sum(axis=0, dtype=np.float64)
    if not levels:
        raise ValueError(f"too short: {total} samples, the analysis window is {n}")
    level, full = np.concatenate(levels), np.concatenate(powers)
    if not (level > 0).any():
        raise ValueError("digital silence: every frame is zero, nothing to measure")
    thr = np.percentile(10 * np.log10(level[level > 0]), ACTIVE_PERCENTILE) - ACTIVE_RANGE_DB
    cut = np.floor(thr / BUCKET_DB)  # buckets from the one holding the threshold up are active
    act_keys = [k for k in accs if k >= cut]
    active = _level_bucket(level) >= cut  # a silent frame's bucket is -inf
    pause_accs = [accs[k] for k in accs if k < cut]
    n_pause = whole_frames(sum(a.n_frames for a in pause_accs), n, step)
    pause = merged_result(pause_accs) if n_pause >= MIN_PAUSE_FRAMES else None
    # Parseval: a frame's mean square is sum(|X|^2) / (n * sum(w^2)) for a Hann-windowed frame
    signal_power = float(full[active].mean() * 2 / (n * win_ms))
    mean_power = sum(sums[k] for k in act_keys) / max(1, sum(accs[k].n_frames for k in act_keys))
    return Spectra(merged_result([accs[k] for k in act_keys]), pause, float(active.mean()),
                   signal_power, total, step, mean_power)


def _level_bucket(level: np.ndarray) -> np.ndarray:
    """Each frame's :data:`BUCKET_DB`-wide level bucket (``-inf`` for a silent frame)."""
    db = np.full(level.shape, -np.inf)
    np.log10(level, out=db, where=level > 0)
    return np.floor(10 * db / BUCKET_DB)


def array_blocks(wav, block: int = 1 << 20) -> Iterator[np.ndarray]:
    """The blocks of an in-memory waveform, for :func:`analyse`."""
    return (wav[i:i + block] for i in range(0, len(wav), block))


# ---------------------------------------------------------------------------------------------
# Scoring a pair of spectra


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


def _null_corrected(on: np.ndarray, null: np.ndarray, sel: np.ndarray) -> Tuple[float, float]:
    """(score, spread) of ``mean(max(p, 0))`` over ``sel`` lines: grid minus shifted grids."""
    if not sel.any():
        return 0.0, 0.0
    g = np.maximum(on[sel], 0).mean()
    nulls = np.maximum(null[:, sel], 0).mean(axis=1)
    return float(g - nulls.mean()), NULL_SPREAD_SCALE * float(nulls.std(ddof=1)) if len(nulls) > 1 else 0.0


def _sinusoid_gain(bins: np.ndarray, n_fft: int) -> np.ndarray:
    """Power of a sinusoid per unit of its periodic-Hann bin power (``8 / N^2``; ``4 / N^2`` at 0 and Nyquist)."""
    g = np.full(bins.shape, 8.0 / n_fft ** 2)
    g[(bins == 0) | (bins == n_fft // 2)] = 4.0 / n_fft ** 2
    return g


SKIRT_DB = 6.0  #: a line whose bin lies this far under a bin 2-3 away is the skirt of a peak there
SKIRT_OFFSETS = np.array([-3, -2, 2, 3])


def _off_line(db: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Lines whose bin is the skirt of a stronger peak 2-3 bins away (a 440 Hz tone 1.7 bins from
    the 430.66 Hz line of hop 256 at 22.05 kHz), not a line of their own: an on-bin line has
    nothing 2 bins out (the periodic Hann window's zeros), a smeared one peaks on the line."""
    nb = len(db)
    pos = _mirror(np.asarray(positions), nb)
    return db[_mirror(pos[..., None] + SKIRT_OFFSETS, nb)].max(axis=-1) > db[pos] + SKIRT_DB


def _grid_figures(power: np.ndarray, lines: np.ndarray, spacing: int):
    """``(db, prominence, floor_db, shifted-grid prominences)`` of the predicted lines in ``power``."""
    db = power_db(power)
    p, floor_db = prominence(db, lines, floor_offsets(spacing))
    p_null, _ = prominence(db, lines[None, :] + null_offsets(spacing)[:, None], floor_offsets(spacing))
    return db, p, floor_db, p_null


def _line_spacing(n_fft: int, hop: int) -> int:
    """Bins between predicted lines, or ``ValueError`` when they do not fall on bins far enough apart."""
    if hop < 2:
        raise ValueError(f"a hop of {hop} predicts no line below Nyquist; the hop must be >= 2")
    if n_fft % hop:
        raise ValueError(f"n_fft ({n_fft}) must be a multiple of the hop ({hop}) "
                         "so that predicted lines fall on bins")
    spacing = n_fft // hop
    if spacing < 2 * FLOOR_MIN_OFFSET + 2:
        raise ValueError(f"n_fft ({n_fft}) must give at least {2 * FLOOR_MIN_OFFSET + 2} bins between "
                         f"lines (hop {hop}: n_fft >= {hop * (2 * FLOOR_MIN_OFFSET + 2)})")
    return spacing


def _band_figures(p: np.ndarray, p_null: np.ndarray, freqs: np.ndarray, sample_rate: float) -> List[dict]:
    """Null-corrected score and largest prominence of every line in each of :data:`BAND_EDGES_HZ`' bands."""
    bands = []
    edges = [0.0, *[e for e in BAND_EDGES_HZ if e < sample_rate / 2], sample_rate / 2 + 1]
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (freqs >= lo) & (freqs < hi)
        if sel.any():
            b_score, _ = _null_corrected(p, p_null, sel)
            bands.append({"lo_hz": lo, "hi_hz": min(hi, sample_rate / 2), "n_tones": int(sel.sum()),
                          "score_db": round(b_score, 3), "max_db": round(float(p[sel].max()), 3)})
    return bands


def _layer_figures(p, p_null, layer_of, rates, factors) -> Dict[str, dict]:
    """Each layer's figures on its exclusive lines."""
    per_layer = {}
    for i, f in enumerate(factors):
        sel = layer_of == i
        per_layer[f"layer{i + 1}"] = {
            "factor": int(f), "input_rate_hz": float(rates[i]), "n_tones": int(sel.sum()),
            "mean_db": round(_null_corrected(p, p_null, sel)[0], 3) if sel.any() else None,
            "max_db": round(float(p[sel].max()), 3) if sel.any() else None}
    return per_layer


def _pause_figures(spectra: Spectra, lines, spacing, in_band, freqs, gain) -> Optional[dict]:
    """The score of the pause spectrum on the active spectrum's in-band lines (``None``: no pauses)."""
    if spectra.pause is None or not np.nanmax(spectra.pause.power) > 0:
        return None
    _, pp, _, pp_null = _grid_figures(spectra.pause.power, lines, spacing)
    ps, pspread = _null_corrected(pp, pp_null, in_band)
    top = int(np.argmax(pp))
    return {"tonal_score_db": round(ps, 3), "tonal_max_db": round(float(pp[top]), 3),
            "null_spread_db": round(pspread, 3), "strongest_hz": float(freqs[top]),
            "n_frames": int(spectra.pause.n_frames),
            "level_db": round(ratio_db(spectra.pause.power[lines[top]] * gain[top], spectra.signal_power), 2)}


def signal_band(spectra: Spectra, db: np.ndarray, floor_db: np.ndarray, lines: np.ndarray,
                spacing: int) -> np.ndarray:
    """Which lines are in the signal band: their floor within :data:`BAND_RANGE_DB` of the loudest floors.

    The floor is read on the long-term *mean* spectrum of the active frames when
    there is one: the per-bin median leaves out what only some frames hold
    (speech's fricatives above 4-5 kHz, 12-22 dB down in the mean), and a comb
    there would be left out of the score.
    """
    if spectra.mean_power is not None and spectra.mean_power.max() > 0:
        _, floor_db = prominence(power_db(spectra.mean_power), lines, floor_offsets(spacing))
    return floor_db >= np.percentile(floor_db, 90) - BAND_RANGE_DB


def score_spectra(spectra: Spectra, sample_rate: float, factors: Optional[Sequence[int]] = None,
                  hop: Optional[int] = None) -> TonalScore:
    """The v2 tonal score from :func:`analyse`'s spectra.

    Raises:
        ValueError: ``n_fft`` is not a multiple of the hop, or fewer than 16 bins between lines.
    """
    factors, hop = resolve_schedule(factors, hop)
    res = spectra.active
    n_fft = 2 * (len(res.power) - 1)
    spacing = _line_spacing(n_fft, hop)
    predicted = predicted_tones(sample_rate, factors)
    lines = np.array([t.harmonic * spacing for t in predicted])
    layer_of = np.array([t.layer for t in predicted])
    freqs = np.array([t.freq_hz for t in predicted])
    db, p, floor_db, p_null = _grid_figures(res.power, lines, spacing)
    in_band = signal_band(spectra, db, floor_db, lines, spacing)
    score, spread = _null_corrected(p, p_null, in_band)
    gain = _sinusoid_gain(lines, n_fft)
    sig = spectra.signal_power  # > 0: active frames are not silent
    level = np.array([ratio_db(pw, sig) for pw in res.power[lines] * gain])
    excess = np.where(p >= 6.0, np.maximum(res.power[lines] - 10 ** (floor_db / 10), 0), 0) * gain
    comb = float(10 * np.log10(excess.sum() / sig)) if excess.sum() > 0 else None
    shown = np.where(_off_line(db, lines), np.minimum(p, 0.0), p)  # a tone's skirt is no line
    tones = [{"freq_hz": float(f), "prominence_db": round(float(pp), 3), "level_db": round(float(lv), 2),
              "layer": int(ly) + 1, "in_band": bool(ib)}
             for f, pp, lv, ly, ib in zip(freqs, shown, level, layer_of, in_band)]
    bands = _band_figures(p, p_null, freqs, sample_rate)
    per_layer = _layer_figures(p, p_null, layer_of, layer_input_rates(sample_rate, factors), factors)
    pause = _pause_figures(spectra, lines, spacing, in_band, freqs, gain)
    band_top = float(freqs[in_band].max()) if in_band.any() else 0.0
    est = estimate_hop(db, sample_rate, n_fft)
    warnings, est = _warnings(spectra, res, db, sample_rate, factors, hop, n_fft, est, band_top, freqs, in_band)
    return TonalScore(
        tonal_score_db=round(score, 3), tonal_max_db=round(float(shown.max()), 3),
        null_spread_db=round(spread, 3), null_max_db=round(float(p_null.max(axis=1).mean()), 3),
        comb_level_db=None if comb is None else round(comb, 2), bands=bands, tones=tones,
        per_layer=per_layer, pause=pause, active_fraction=round(spectra.active_fraction, 4),
        estimated_hop=est[0] if est else None, signal_band_hz=band_top, warnings=warnings,
        sample_rate=float(sample_rate), factors=tuple(factors), hop=int(hop), n_fft=int(n_fft),
        n_frames=int(res.n_frames), spectrum=res)


# ---------------------------------------------------------------------------------------------
# Blind hop estimate and the pitch check


def prominence_spectrum(db: np.ndarray) -> np.ndarray:
    """Every bin's prominence over the median of the bins 4..8 away (dB)."""
    return prominence(db, np.arange(len(db)), floor_offsets(16))[0]


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
        is_layer_rate = at_rate(f0)
        if _is_hum(f0):
            pitched = f"stationary lines at harmonics of {f0:.2f} Hz: mains hum, not an upsampler"
        elif not on_integer_hop:
            pitched = (f"stationary lines at harmonics of {f0:.2f} Hz, which no integer hop produces: "
                       "a held note or other pitched content")
        elif hop % h == 0 and not is_layer_rate and not (
                est is not None and at_rate(sr / est[0])):
            # (a full comb at a layer rate, found blind, explains lines at its multiples)
            pitched = (f"lines only at multiples of {f0:.2f} Hz, which is on the predicted grid but "
                       f"not a layer's input rate ({rate_list} Hz): probably a held note")
    if est is not None and _is_hum(sr / est[0]):
        pitched = pitched or f"a comb of {sr / est[0]:.2f} Hz: mains hum, not an upsampler"
        hum, est = est, None  # still reported as the estimate: the hum's comb is real
    if pitched:
        out.append(warning("pitched_content", pitched + NO_REFERENCE_ADVICE))
        if est is not None and not on_integer_hop and (
                _related(sr / est[0], f0) or _note_explains_comb([f for f, _ in peaks], sr / est[0], f0, df)):
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


def _note_explains_comb(peaks: Sequence[float], spacing: float, f0: float, df: float) -> bool:
    """Most stationary peaks on the comb (within 1.5 bins of a multiple of ``spacing``) are
    harmonics of the note ``f0``: a comb found blind at a rational multiple of a note (B3 at
    123.47 Hz reads as a comb of 82.28 Hz = hop 268 at 22.05 kHz, its harmonics 2k falling near
    the comb's lines 3k), not a comb of its own."""
    f = np.asarray(peaks, dtype=float)

    def near(g):
        n = np.round(f / g)
        return (n >= 1) & (np.abs(f - n * g) <= HARMONIC_TOL_BINS * df)

    on = near(spacing)
    return on.sum() >= 3 and (near(f0) & on).sum() >= 0.7 * on.sum()


def _is_hum(f0: float) -> bool:
    return any(abs(f0 - m) < 0.01 * m for m in (50.0, 60.0))


def _related(a: float, b: float) -> bool:
    """``a`` and ``b`` within 2 % of an integer ratio."""
    r = max(a, b) / min(a, b)
    return abs(r - round(r)) < 0.02 * r


# ---------------------------------------------------------------------------------------------
# Entry points


def tonal_score(wav, sample_rate: float, factors: Optional[Sequence[int]] = None,
                hop: Optional[int] = None, n_fft: Optional[int] = None,
                step: Optional[int] = None) -> TonalScore:
    """Reference-free tonal score (v2) of a waveform.

    Args:
        wav: ``(T,)`` samples (numpy array or tensor), at least ``n_fft`` long
            (1 s or more for a reliable figure).
        sample_rate: Hz.
        factors: the generator's per-layer upsampling factors (e.g. ``(8, 8, 2, 2)``),
            or ``hop`` alone.
        n_fft: analysis size, a multiple of the hop (default :func:`default_n_fft`).
        step: samples between frames (default ``n_fft``; :func:`frame_step` for an excess).

    Returns:
        A :class:`TonalScore`.

    Cost: two passes, one ``n_fft``-point FFT per ``n_fft`` samples and a share
    of one median; above 3000x real time in CPU time on one core at 22.05 kHz
    (``benchmarks/bench_metrics.py``).
    """
    factors, hop = resolve_schedule(factors, hop)
    n_fft = n_fft or default_n_fft(sample_rate, hop)
    if n_fft % hop:
        raise ValueError(f"n_fft ({n_fft}) must be a multiple of the hop ({hop})")
    wav = _as_numpy(wav, n_fft)
    return score_spectra(analyse(array_blocks(wav), sample_rate, n_fft, hop, step=step), sample_rate, factors)


def excess_tonal_db(generated: TonalScore, reference: TonalScore) -> float:
    """Tonality of ``generated`` beyond its ``reference`` of the same content (dB, v2 scores).

    Score both with ``step=frame_step(length, n_fft)`` (as ``audioup measure`` does)
    for the steadier figure on short files, on the same content (a longer reference cut
    to its matching part: :func:`audioup.metrics.record.reference_excess` does both);
    :func:`excess_spread_db` is its noise.

    A reference that reads below zero has a real dip at every multiple of
    ``sr / hop`` (some clean recordings do): a reference below zero is raised
    to ``min(generated, 0)``, so that a line-free file does not read as an
    excess over it while the same dip in both still reads 0. This only ever
    brings the excess closer to 0 (:func:`reference_below_zero` warns when the
    dip is more than noise).
    """
    gen, ref = generated.tonal_score_db, reference.tonal_score_db
    return round(gen - max(ref, min(gen, 0.0)), 3)


def reference_below_zero(reference: TonalScore) -> Optional[dict]:
    """The ``note`` warning for a reference scoring more than 2 null spreads below zero (else ``None``)."""
    if reference.tonal_score_db >= -2 * reference.null_spread_db:
        return None
    return warning("note", f"the reference scores {reference.tonal_score_db:+.2f} dB (a dip at the "
                           "predicted lines, more than 2 null spreads below zero); the excess is taken over "
                           "0 instead (or the file's own score, when lower)")


def excess_spread_db(generated: TonalScore, reference: TonalScore) -> float:
    """The null spread of :func:`excess_tonal_db`: both scores' spreads added in quadrature (dB).

    Same content reads within about two of these of 0 (at 1 s, 0.1-0.2 dB).
    """
    return round(float(np.hypot(generated.null_spread_db, reference.null_spread_db)), 3)


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


__all__ = ["TonalScore", "Spectra", "analyse", "array_blocks", "score_spectra", "tonal_score",
           "excess_tonal_db", "reference_below_zero", "estimate_hop", "harmonic_series", "stationary_peaks", "prominence",
           "detect_lines", "detect_tones", "warning", "WARNING_CODES", "DB_RANGE"]
