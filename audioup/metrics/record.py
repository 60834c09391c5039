"""One measurement record: the keys ``audioup measure``, compare and training validation share.

:class:`Measurement` holds every figure of one signal (``None`` until
measured); :func:`measure_signal` fills one from an in-memory waveform (and its
ground truth), :func:`audioup.metrics.measure.measure_file` from a file. Both
take the tonal figures from :meth:`Measurement.add_score`, so a key means the
same thing everywhere. ``to_dict()`` is the JSON record.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..audio.db import ratio_db
from .align import matching_span
from .reference import reference_metrics
from .tonal import (NO_REFERENCE_ADVICE, REFERENCE_ADVICE, TonalScore, excess_spread_db, excess_tonal_db,
                    frame_step, reference_below_zero, tonal_score, warning)

REFERENCE_KEYS = ("mrstft", "mel_l1", "lsd_db", "pesq_wb", "stoi", "periodicity_rmse", "vuv_f1")
TONAL_KEYS = ("tonal_score_db", "tonal_max_db", "null_spread_db", "null_max_db", "comb_level_db",
              "bands", "tones", "per_layer", "pause", "active_fraction", "estimated_hop", "signal_band_hz")


@dataclass
class Measurement:
    """Everything measured about one signal (JSON via :meth:`to_dict`).

    Tonal keys are those of :class:`~audioup.metrics.tonal.TonalScore` (``tones``
    keeps the strongest lines, strongest first); ``warnings`` are
    ``{"code", "message"}``; ``level_db`` is the RMS level re the reference;
    ``excess_tonal_db`` the tonal score above the reference's.
    """

    path: str
    error: Optional[str] = None
    warnings: List[dict] = field(default_factory=list)
    sample_rate: Optional[int] = None
    duration_s: Optional[float] = None
    channels: Optional[int] = None
    factors: Optional[List[int]] = None
    hop: Optional[int] = None
    n_fft: Optional[int] = None
    tonal_score_db: Optional[float] = None
    tonal_max_db: Optional[float] = None
    null_spread_db: Optional[float] = None
    null_max_db: Optional[float] = None
    comb_level_db: Optional[float] = None
    bands: Optional[List[dict]] = None
    tones: List[dict] = field(default_factory=list)
    per_layer: Optional[Dict[str, dict]] = None
    pause: Optional[dict] = None
    active_fraction: Optional[float] = None
    estimated_hop: Optional[int] = None
    signal_band_hz: Optional[float] = None
    detected: List[dict] = field(default_factory=list)
    reference: Optional[str] = None
    reference_tonal_score_db: Optional[float] = None
    reference_tonal_max_db: Optional[float] = None
    excess_tonal_db: Optional[float] = None
    excess_spread_db: Optional[float] = None
    level_db: Optional[float] = None
    mrstft: Optional[float] = None
    mel_l1: Optional[float] = None
    lsd_db: Optional[float] = None
    pesq_wb: Optional[float] = None
    stoi: Optional[float] = None
    periodicity_rmse: Optional[float] = None
    vuv_f1: Optional[float] = None
    mos: Optional[float] = None
    reference_mos: Optional[float] = None
    unavailable: Dict[str, str] = field(default_factory=dict)
    plot: Optional[str] = None

    def warn(self, code: str, message: str) -> None:
        """Add a warning once."""
        w = warning(code, message)
        if w not in self.warnings:
            self.warnings.append(w)

    def add_score(self, score: TonalScore, max_tones: int = 16) -> None:
        """Copy the tonal figures of ``score`` (its warnings too)."""
        d = score.to_dict(max_tones)
        for k in TONAL_KEYS:
            setattr(self, k, d[k])
        self.factors, self.hop, self.n_fft = list(score.factors), score.hop, score.n_fft
        for w in score.warnings:
            self.warn(w["code"], w["message"])

    def add_reference_score(self, ref: TonalScore, paired: Optional[tuple] = None) -> None:
        """``ref``: the reference's score; ``paired``: ``(generated, reference)`` as scored for
        the excess (:func:`reference_excess`), when not the file's own and ``ref``."""
        self.reference_tonal_score_db, self.reference_tonal_max_db = ref.tonal_score_db, ref.tonal_max_db
        for w in self.warnings:  # the advice to measure with a reference is followed
            if w["code"] == "pitched_content":
                w["message"] = w["message"].replace(NO_REFERENCE_ADVICE, REFERENCE_ADVICE)
        if self.tonal_score_db is not None:
            below = reference_below_zero(ref)  # the whole reference, scored as the file is
            gen, ref = paired or (self, ref)
            self.excess_tonal_db = excess_tonal_db(gen, ref)
            if below:
                self.warn(below["code"], below["message"])
            self.excess_spread_db = excess_spread_db(gen, ref)

    def to_dict(self) -> dict:
        return asdict(self)


def level_db(out, ref) -> float:
    """RMS level of ``out`` relative to ``ref`` in dB, each with its mean (DC) removed.

    A constant offset is not sound: an untrained generator's output is mostly DC, and
    counting it would report a near-silent output as loud.

    >>> round(level_db(np.array([1.0, 1.5, 1.0, 1.5]), np.array([0.5, -0.5, 0.5, -0.5])), 1)
    -6.0
    """
    power = [float(np.mean(np.square(np.asarray(x, dtype=np.float64) - np.mean(x)))) for x in (out, ref)]
    return ratio_db(*power)


def reference_excess(rec: Measurement, x: np.ndarray, ref: np.ndarray, sample_rate: float,
                     ref_score: TonalScore) -> np.ndarray:
    """Set ``rec``'s reference figures; return the part of ``ref`` that holds ``x``'s content.

    ``reference_tonal_score_db`` is the whole reference's score (``ref_score``).
    The excess compares like with like:

    - a reference longer than ``x`` is first cut to the span holding the same
      content (:func:`~audioup.metrics.align.matching_span`; a note says where),
      so other speech in it is not compared;
    - both are scored with the same frames, every ``n_fft / 4`` samples for a pair
      shorter than ~30 s (:func:`~audioup.metrics.tonal.frame_step`: steadier medians).

    Returns the span of ``ref`` (``ref`` itself when none was found), which the
    other reference metrics then compare with.
    """
    span = matching_span(x, ref, sample_rate)
    if span is not None:
        a, b = span
        rec.warn("note", f"the reference is {(len(ref) - len(x)) / sample_rate:.2f} s longer; compared with "
                         f"its part holding the same content ({a / sample_rate:.2f}-{b / sample_rate:.2f} s)")
        ref = ref[a:b]
    n_fft = ref_score.n_fft
    step = frame_step(min(x.size, ref.size), n_fft)
    paired = None
    if span is not None or step != n_fft:
        def score(y):
            return tonal_score(y, sample_rate, factors=ref_score.factors, n_fft=n_fft, step=step)

        # with whole frames the file's own score is already the one to compare
        paired = (rec if step == n_fft else score(x), score(ref))
    rec.add_reference_score(ref_score, paired)
    return ref


def measure_signal(wav, sample_rate: int, factors: Optional[Sequence[int]] = None,
                   hop: Optional[int] = None, reference=None, name: str = "",
                   max_tones: int = 16, pesq: bool = False,
                   optional: Optional[Sequence[str]] = None) -> Measurement:
    """Measure an in-memory waveform (and its ground truth): one :class:`Measurement`.

    Args:
        wav: ``(T,)`` generated samples.
        sample_rate: Hz.
        factors, hop: the upsampling schedule.
        reference: ``(T,)`` ground truth (adds ``reference_tonal_score_db`` / ``_max_db``,
            ``excess_tonal_db``, ``level_db``, ``mrstft``, ``mel_l1`` and, with ``pesq``,
            ``pesq_wb``; these import torch).
        name: stored as ``path``.
        pesq: also wide-band PESQ (``unavailable`` says why when it cannot run).
        optional: the optional reference metrics to compute (names of
            :func:`audioup.metrics.reference_metrics`: ``pesq_wb``, ``stoi``, ``periodicity``,
            ``mos``: DistillMOS of the signal and of the reference); overrides ``pesq``.

    A signal the tonal score refuses (too short, silent) gets ``error``; the
    reference metrics are still computed.
    """
    rec = Measurement(path=name, sample_rate=int(sample_rate))
    x = np.asarray(wav.detach().cpu().numpy() if hasattr(wav, "detach") else wav, dtype=np.float32)
    rec.duration_s = round(x.size / sample_rate, 4)
    try:
        rec.add_score(tonal_score(x, sample_rate, factors=factors, hop=hop), max_tones)
    except ValueError as exc:
        rec.error = f"no tonal score ({exc})"
    if reference is None:
        return rec
    ref = np.asarray(reference.detach().cpu().numpy() if hasattr(reference, "detach") else reference,
                     dtype=np.float32)
    if rec.error is None:
        try:
            ref_score = tonal_score(ref, sample_rate, factors=factors, hop=hop)
            ref = reference_excess(rec, x, ref, sample_rate, ref_score)
        except ValueError as exc:
            rec.warn("note", f"reference: no tonal score ({exc})")
    rec.level_db = level_db(x, ref)
    quality = reference_metrics(x, ref, sample_rate,
                                optional=("pesq_wb",) * pesq if optional is None else tuple(optional))
    for key in REFERENCE_KEYS + ("mos", "reference_mos"):
        setattr(rec, key, quality.get(key))
    rec.unavailable.update(quality["unavailable"])
    return rec


__all__ = ["Measurement", "level_db", "measure_signal", "reference_excess", "REFERENCE_KEYS", "TONAL_KEYS", "excess_tonal_db",
           "excess_spread_db"]
