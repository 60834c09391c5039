"""Frames of the tonal score: one streamed pass, active / pause stationary spectra.

See :mod:`audioup.metrics.tonal` for the score these feed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Tuple

import numpy as np

from .stationary import StationaryResult, StationarySpectrum, hann, merged_result, stft_power

ACTIVE_RANGE_DB = 35.0  #: active frames: energy within this of the 95th percentile
ACTIVE_PERCENTILE = 95.0
MIN_PAUSE_FRAMES = 5

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


__all__ = ["Spectra", "analyse", "array_blocks", "frame_step", "whole_frames", "BUCKET_DB", "SHORT_FRAMES",
           "ACTIVE_RANGE_DB", "ACTIVE_PERCENTILE"]
