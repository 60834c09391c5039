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
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..audio.db import DB_RANGE, power_db, ratio_db
from .detection import (  # noqa: F401 (re-exported: the public names stay importable from here)
    HARMONIC_TOL_BINS, HOP_MIN_Z, LOW_HARMONICS, LOW_HARMONICS_MIN, MIN_ACTIVE_FRAMES, MIN_DETECT_FRAMES,
    MOSTLY_SILENCE, NO_REFERENCE_ADVICE, PEAK_MIN_DB, REFERENCE_ADVICE, WARNING_CODES, _warnings,
    detect_lines, detect_tones, estimate_hop, harmonic_series, stationary_peaks, warning)
from .frames import (  # noqa: F401
    ACTIVE_PERCENTILE, ACTIVE_RANGE_DB, BUCKET_DB, MIN_PAUSE_FRAMES, SHORT_FRAMES, Spectra, analyse,
    array_blocks, frame_step, whole_frames)
from .prominence import (  # noqa: F401
    FLOOR_MIN_OFFSET, _mirror, floor_offsets, null_offsets, prominence, prominence_spectrum)
from .stationary import StationaryResult, _as_numpy
from .tones import default_n_fft, layer_input_rates, predicted_tones, resolve_schedule

BAND_RANGE_DB = 40.0  #: in-band lines: floor within this of the loudest floors (90th percentile)
BAND_EDGES_HZ = (4000.0, 8000.0)
#: the shifted grids' standard deviation times this is ``null_spread_db``: they are neighbours of the
#: grid, not independent draws, and understate the noise of real clean recordings
#: (benchmarks/calibrate_null_spread.py, benchmarks/RESULTS.md)
NULL_SPREAD_SCALE = 1.63


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

    Each side's tonality is its score's positive part: a score below zero is a
    dip at every multiple of ``sr / hop`` (some clean recordings have a real
    one) or the null's noise, and holds no lines. So a reference below zero
    does not make a line-free file read as an excess (:func:`reference_below_zero`
    warns when its dip is more than noise), and a file below zero reads at most
    the reference's positive score below it, not the depth of its dip (taking
    only the reference's side made same-content pairs read down to -0.40 dB at
    1 s, the file below zero by chance against a reference above it). This only
    ever brings the excess closer to 0; the same dip in both reads 0.
    """
    gen, ref = generated.tonal_score_db, reference.tonal_score_db
    return round(max(gen, 0.0) - max(ref, 0.0), 3)


def reference_below_zero(reference: TonalScore) -> Optional[dict]:
    """The ``note`` warning for a reference scoring more than 2 null spreads below zero (else ``None``)."""
    if reference.tonal_score_db >= -2 * reference.null_spread_db:
        return None
    return warning("note", f"the reference scores {reference.tonal_score_db:+.2f} dB (a dip at the "
                           "predicted lines, more than 2 null spreads below zero); the excess is taken over "
                           "0 instead")


def excess_spread_db(generated: TonalScore, reference: TonalScore) -> float:
    """The null spread of :func:`excess_tonal_db`: both scores' spreads added in quadrature (dB).

    Same content reads within about two of these of 0 (at 1 s, 0.1-0.2 dB).
    """
    return round(float(np.hypot(generated.null_spread_db, reference.null_spread_db)), 3)


__all__ = ["TonalScore", "Spectra", "analyse", "array_blocks", "score_spectra", "tonal_score",
           "excess_tonal_db", "reference_below_zero", "estimate_hop", "harmonic_series", "stationary_peaks", "prominence",
           "detect_lines", "detect_tones", "warning", "WARNING_CODES", "DB_RANGE"]
