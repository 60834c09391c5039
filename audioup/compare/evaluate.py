"""Measure one generator on a test set for the comparison: vocode, score, and time it.

:func:`evaluate_vocoder` vocodes and measures each test clip with
:func:`audioup.evaluation.evaluate_vocoder` (the one "vocode, then measure" of audioup) and
:func:`measure_outputs` turns the clips' measurements into one record for the comparison's
tables and figures: the tonal score with its per-layer breakdown, the stationary spectrum of
all clips, MR-STFT distance, mel L1, STOI, PESQ and periodicity when installed, averaged
over the clips. :func:`measure_speed` times several generators side by side.
"""
from __future__ import annotations

import math
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..audio.db import ratio_db
from ..evaluation import TestClip
from ..evaluation import evaluate_vocoder as evaluate_clips
from ..metrics import Measurement, default_n_fft, measure_signal, stationary_spectrum


# reference-based quality metrics every record carries (see audioup.metrics.reference_metrics)
QUALITY_KEYS = ("mrstft", "mel_l1", "pesq_wb", "stoi", "periodicity_rmse", "vuv_f1")


QUIET_DB = -20.0  # outputs further below the real audio are too quiet for their scores to mean much
HIGH_BAND_HZ = 1000.0


def band_level_db(record: dict, reference: dict, f_lo: float = HIGH_BAND_HZ) -> Optional[float]:
    """Power of a record's stationary spectrum above ``f_lo`` relative to the reference's, in dB.

    The broadband level can be carried by a low rumble alone (a barely trained
    interpolating upsampler); above 1 kHz is where speech has its detail and where
    most predicted lines sit. ``None`` without both spectra.
    """
    spec, ref = record.get("spectrum"), reference.get("spectrum")
    if not spec or not ref or spec["n_fft"] != ref["n_fft"]:
        return None
    freqs = np.arange(len(spec["db"])) * spec["sample_rate"] / spec["n_fft"]
    band = freqs >= f_lo
    power = [np.mean(10.0 ** (np.asarray(s["db"], dtype=np.float64)[band] / 10)) for s in (spec, ref)]
    return ratio_db(power[0], power[1])


def too_quiet(record: dict, reference: dict, threshold_db: float = QUIET_DB) -> bool:
    """Output (broadband or above 1 kHz) more than ``-threshold_db`` dB below the real audio."""
    levels = [record.get("level_db"), band_level_db(record, reference)]
    return any(v is not None and v < threshold_db for v in levels)


def _mean(values) -> Optional[float]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def measure_outputs(outputs: Sequence[np.ndarray], sample_rate: int, factors: Sequence[int],
                    references: Optional[Sequence[np.ndarray]] = None,
                    names: Optional[Sequence[str]] = None, pesq: bool = True,
                    periodicity: bool = True, measured: Optional[Sequence[Measurement]] = None) -> dict:
    """Metrics of generated clips, averaged over the clips.

    Args:
        outputs: generated ``(T,)`` clips.
        sample_rate: their rate (Hz).
        factors: the generator's per-layer upsampling factors (where its lines are predicted).
        references: ground truth for each clip (``None``: reference-free metrics only).
        names: clip names for the per-file records.
        pesq: compute wide-band PESQ (skipped with a note when the package is missing).
        periodicity: compute periodicity RMSE and V/UV F1 with torchcrepe (likewise; about
            5 s of CPU per second of audio on one thread, so a CPU run may leave it out).
        measured: the clips' measurements when already made (:func:`evaluate_vocoder`);
            ``references``, ``pesq`` and ``periodicity`` then only say what was asked for.

    Returns:
        ``{"tonal_score_db", "tonal_max_db", "null_spread_db", "per_layer", "level_db", "mrstft",
        "mel_l1", "pesq_wb", "stoi", "periodicity_rmse", "vuv_f1", "notes", "files", "spectrum",
        "seconds"}`` (``level_db``: :func:`audioup.metrics.level_db` re the reference, DC removed;
        ``files``: one :class:`audioup.metrics.Measurement` dict per clip, its name in ``path``);
        a metric that could not be computed is ``None`` and ``notes`` says why.
    """
    names = list(names or [f"clip{i}" for i in range(len(outputs))])
    notes = []
    if references is not None and not periodicity:
        notes.append("periodicity and V/UV F1: left out (periodicity=False; torchcrepe is slow on a CPU)")
    if measured is None:
        optional = ("pesq_wb",) * pesq + ("stoi",) + ("periodicity",) * periodicity
        measured = [measure_signal(out, sample_rate, factors=factors, name=names[i], optional=optional,
                                   reference=None if references is None else references[i])
                    for i, out in enumerate(outputs)]
    _add_clip_notes(notes, names, measured)
    files = [m.to_dict() for m in measured]
    maxima = [f["tonal_max_db"] for f in files if f["tonal_max_db"] is not None]
    record = {
        "tonal_score_db": _mean(f["tonal_score_db"] for f in files),
        "tonal_max_db": float(max(maxima)) if maxima else None,
        "null_spread_db": _mean(f["null_spread_db"] for f in files),
        "per_layer": _per_layer_means(measured),
        "level_db": None, **{key: None for key in QUALITY_KEYS},
        "seconds": float(sum(np.size(o) for o in outputs) / sample_rate), "notes": notes, "files": files,
        "spectrum": _joined_spectrum(outputs, sample_rate, factors),
    }
    if references is not None:
        for key in ("level_db", *QUALITY_KEYS):
            record[key] = _mean(f[key] for f in files)
    return record


def _add_clip_notes(notes: List[str], names: Sequence[str], measured: Sequence[Measurement]) -> None:
    """Append each clip's error and, once each, every metric that could not be computed and why."""
    for name, m in zip(names, measured):
        if m.error:
            notes.append(f"{name}: {m.error}")
        for key, why in m.unavailable.items():
            note = f"{'PESQ' if key == 'pesq_wb' else key}: {why}"
            if note not in notes:
                notes.append(note)


def _per_layer_means(measured: Sequence[Measurement]) -> Dict[str, dict]:
    """Each layer's tonal score (``mean_db``) averaged over the clips, with its factor and input rate."""
    layers: Dict[str, dict] = {}
    for m in measured:
        for layer, info in (m.per_layer or {}).items():
            layers.setdefault(layer, {"factor": info["factor"],
                                      "input_rate_hz": info["input_rate_hz"], "values": []})
            layers[layer]["values"].append(info["mean_db"])
    return {k: {"factor": v["factor"], "input_rate_hz": v["input_rate_hz"], "mean_db": _mean(v["values"])}
            for k, v in layers.items()}


def _joined_spectrum(outputs: Sequence[np.ndarray], sample_rate: int, factors: Sequence[int]) -> Optional[dict]:
    """Stationary spectrum (dB, 0.01 dB steps) of all clips end to end; ``None`` if shorter than one frame."""
    n_fft = default_n_fft(sample_rate, math.prod(factors))
    joined = np.concatenate([np.asarray(o, dtype=np.float32) for o in outputs])
    if joined.size < n_fft:
        return None
    _, db = stationary_spectrum(joined, sample_rate, n_fft=n_fft)
    return {"n_fft": n_fft, "sample_rate": sample_rate, "db": np.round(db, 2).tolist()}


def evaluate_vocoder(vocoder, clips: Sequence[TestClip], audio_dir=None, pesq: bool = True,
                     periodicity: bool = True) -> dict:
    """Vocode and measure every test clip (:func:`audioup.evaluation.evaluate_vocoder`) into one
    record (:func:`measure_outputs`).

    Args:
        vocoder: an :class:`audioup.inference.Vocoder`.
        clips: from :func:`audioup.evaluation.load_clips`, at the vocoder's sample rate.
        audio_dir: if given, the generated clips are written there as ``NAME.wav``
            (32-bit float, which holds every sample exactly), so re-measuring a saved
            file gives the reported numbers.
        pesq, periodicity: see :func:`measure_outputs` (STOI is always asked for).
    """
    optional = ("pesq_wb",) * pesq + ("stoi",) + ("periodicity",) * periodicity
    results = evaluate_clips(vocoder, clips, keep_output=True, optional=optional, audio_dir=audio_dir)
    return measure_outputs([r.output for r in results], vocoder.sample_rate,
                           list(vocoder.generator.upsample_factors), references=[c.samples for c in clips],
                           names=[c.name for c in clips], pesq=pesq, periodicity=periodicity,
                           measured=[r.measurement for r in results])


def measure_speed(generators: Dict[str, "object"], mel, sample_rate: int, hop: int,
                  repeats: int = 3, rounds: Optional[Dict[str, List[float]]] = None) -> Dict[str, float]:
    """Inference speed of each generator as a multiple of real time, measured side by side.

    Every generator runs once to warm up, then ``repeats`` rounds run each generator in
    turn (interleaved, so that a change in machine load hits all of them alike); the
    fastest round counts. Uses torch's current thread count.

    Args:
        generators: name -> generator (eval mode) taking ``(1, n_mels, N)``.
        mel: ``(1, n_mels, N)`` log-mel input.
        sample_rate, hop: to turn ``N`` frames into seconds of audio.
        rounds: if given, receives name -> the speed of every timed round (its spread
            tells how loaded the machine was).

    Returns:
        name -> seconds of audio generated per second of compute (higher is faster).
    """
    seconds = mel.shape[-1] * hop / sample_rate
    best = {name: math.inf for name in generators}
    with torch.inference_mode():
        for round_ in range(repeats + 1):
            for name, generator in generators.items():
                start = time.perf_counter()
                generator(mel)
                if mel.is_cuda:
                    torch.cuda.synchronize(mel.device)
                if round_:  # round 0 warms up
                    took = time.perf_counter() - start
                    best[name] = min(best[name], took)
                    if rounds is not None:
                        rounds.setdefault(name, []).append(seconds / took)
    return {name: seconds / t for name, t in best.items()}
