"""The stationary spectrum: a per-bin median over STFT frames, computed in a stream.

Speech harmonics move from frame to frame; an upsampler's lines do not. The
median over frames of a high-resolution power spectrum keeps what is there most
of the time and drops what passes by, so it is the spectrum every tonal metric
in :mod:`audioup.metrics` reads.

How the median streams (bounded memory, one pass): frames are taken in blocks
of ``block_frames`` (63) consecutive frames, counted from the start of the
signal; each block's exact per-bin median goes into a *remedian* (Rousseeuw &
Bassett, JASA 1990): buffers of ``base`` (15) rows per level, a full buffer
passing its median one level up. The answer is the weighted median of all
rows held (weight = frames a row stands for). Up to 63 frames (about 6 s at
22.05 kHz with n_fft 4096) it is the exact median; beyond, a robust estimate
of it whose memory grows with the log of the length (at most 15 rows per
level, 120 kB at n_fft 4096; a level is added every 15x more audio, the
fourth after 5.5 hours at 22.05 kHz). Blocks follow frame indices, never
the chunking of the input, so feeding a file in any chunk sizes gives
bit-identical results.

Cost per frame: one real FFT of ``n_fft`` (Hann window, hop ``step``), a
squared magnitude and a share of one ``np.partition``: at n_fft 4096 on one
core about 30 us with all bins and persistence, 16 us for the bins the tonal
score reads (``benchmarks/bench_metrics.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..audio.db import power_db  # the one dB floor: DB_RANGE below the peak


def hann(n_fft: int) -> np.ndarray:
    """The periodic Hann window every analysis here uses (float32)."""
    return np.hanning(int(n_fft) + 1)[:-1].astype(np.float32)


@dataclass
class StationaryResult:
    """What :class:`StationarySpectrum` accumulated.

    Attributes:
        freqs: bin frequencies (Hz), shape ``(n_fft // 2 + 1,)``.
        power: per-bin median power over frames, same shape (linear, window-scaled).
        persistence: share of frames in which each bin stood at least
            ``peak_ratio`` above the mean of its neighbours, same shape
            (``None`` unless persistence was tracked).
        n_frames: frames analysed.
        spectrogram: ``(columns, bins)`` power averaged over groups of frames
            (``None`` unless requested).
        frame_seconds: time between spectrogram columns.
    """

    freqs: np.ndarray
    power: np.ndarray
    persistence: Optional[np.ndarray]
    n_frames: int
    spectrogram: Optional[np.ndarray] = None
    frame_seconds: float = 0.0

    def power_db(self) -> np.ndarray:
        """``10 log10(power)``, floored :data:`DB_RANGE` dB below the spectrum's peak."""
        return power_db(self.power)


# Neighbour offsets (in bins) for the per-frame "stands above its neighbours" test.
_NEIGHBOURS = tuple(d for d in range(-8, 9) if abs(d) >= 3)


class StationarySpectrum:
    """Streaming median-over-frames spectrum (see the module docstring).

    Args:
        sample_rate: rate of the samples fed to :meth:`update`.
        n_fft: frame length and FFT size.
        step: frame hop (default ``n_fft // 2``).
        persistence: also count, per bin, the frames in which it stands
            ``peak_ratio`` (default 4, i.e. 6 dB) above the mean of bins 3 to 8
            away (for blind tone detection).
        spectrogram_pool: if > 0, keep a coarse spectrogram, one column per this
            many frames (for plots).
        bins: keep only these bin indices (the tonal score needs a few bins per
            predicted line); the others read NaN in the result. ``None``: all.
        block_frames, base: remedian block and buffer sizes.

    Shape:
        ``update`` takes ``(T_chunk,)`` float samples; ``result().power`` is ``(n_fft // 2 + 1,)``.

    >>> acc = StationarySpectrum(8000, 512); _ = acc.update(np.ones(4096)); acc.result().n_frames
    15
    """

    def __init__(self, sample_rate: float, n_fft: int, step: Optional[int] = None,
                 persistence: bool = False, spectrogram_pool: int = 0, peak_ratio: float = 4.0,
                 bins=None, block_frames: int = 63, base: int = 15, frames_per_batch: int = 504):
        if n_fft < 16:
            raise ValueError(f"n_fft must be >= 16, got {n_fft}")
        self.sample_rate, self.n_fft = float(sample_rate), int(n_fft)
        self.step = int(step) if step else self.n_fft // 2
        self.block_frames, self.base = int(block_frames), int(base)
        self.peak_ratio = float(peak_ratio)
        self.window = hann(self.n_fft)
        self.n_bins = self.n_fft // 2 + 1
        self.bins = None if bins is None else np.unique(np.asarray(bins, dtype=np.int64))
        if self.bins is not None and (persistence or spectrogram_pool):
            raise ValueError("persistence and spectrograms need all bins (bins=None)")
        if self.bins is not None and (self.bins.min() < 0 or self.bins.max() >= self.n_bins):
            raise ValueError(f"bins must lie in 0..{self.n_bins - 1}")
        # frames per batch: a multiple of the block, so blocks never straddle batches
        self.frames_per_batch = max(1, frames_per_batch // self.block_frames) * self.block_frames
        self._pending = np.zeros(0, np.float32)  # samples not yet framed
        self._block: List[np.ndarray] = []  # power rows of the open block
        self._levels: List[List[np.ndarray]] = [[]]  # remedian buffers
        self.n_frames = 0
        self._counts = np.zeros(self.n_bins, np.int64) if persistence else None
        self.spectrogram_pool = int(spectrogram_pool)
        self._spec_cols: List[np.ndarray] = []
        self._spec_acc: Optional[np.ndarray] = None
        self._spec_n = 0

    def update(self, samples) -> "StationarySpectrum":
        """Add the next samples of the signal (any chunk size)."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        buf = np.concatenate([self._pending, x]) if self._pending.size else x
        n = 0 if buf.size < self.n_fft else 1 + (buf.size - self.n_fft) // self.step
        # Frame at most frames_per_batch frames at a time to bound memory.
        for start in range(0, n, self.frames_per_batch):
            stop = min(n, start + self.frames_per_batch)
            frames = np.lib.stride_tricks.as_strided(
                buf[start * self.step:], shape=(stop - start, self.n_fft),
                strides=(self.step * buf.strides[0], buf.strides[0]), writeable=False)
            self.add_power(stft_power(frames, self.window, self.bins))
        self._pending = np.array(buf[n * self.step:], dtype=np.float32)
        return self

    def add_power(self, power: np.ndarray) -> None:
        """Add ``(frames, bins)`` power rows computed elsewhere (by :func:`stft_power`)."""
        self.n_frames += power.shape[0]
        if self._counts is not None:
            self._counts += _stands_out(power, self.peak_ratio).sum(axis=0)
        if self.spectrogram_pool > 0:
            self._pool(power)
        i = 0
        while i < power.shape[0]:  # fill the open block, close it when full
            need = self.block_frames - sum(len(b) for b in self._block)
            part = power[i:i + need]
            self._block.append(part)
            i += need
            if sum(len(b) for b in self._block) == self.block_frames:
                rows = np.concatenate(self._block) if len(self._block) > 1 else self._block[0]
                self._push(0, _lower_median(rows))
                self._block = []
        if self._block and self._block[-1].base is not None:
            self._block[-1] = self._block[-1].copy()  # do not keep the caller's whole batch alive

    def _push(self, level: int, row: np.ndarray) -> None:
        if level == len(self._levels):
            self._levels.append([])
        self._levels[level].append(row)
        if len(self._levels[level]) == self.base:
            up = _lower_median(np.stack(self._levels[level]))
            self._levels[level] = []
            self._push(level + 1, up)

    def _pool(self, power: np.ndarray) -> None:
        if self._spec_acc is None:
            self._spec_acc = np.zeros(self.n_bins, np.float64)
        i = 0
        while i < power.shape[0]:
            take = min(self.spectrogram_pool - self._spec_n, power.shape[0] - i)
            self._spec_acc += power[i:i + take].sum(axis=0)
            self._spec_n += take
            i += take
            if self._spec_n == self.spectrogram_pool:
                self._spec_cols.append((self._spec_acc / self._spec_n).astype(np.float32))
                self._spec_acc[:] = 0.0
                self._spec_n = 0

    def result(self) -> StationaryResult:
        """The median spectrum so far (the accumulator may keep being updated)."""
        if self.n_frames == 0:
            raise ValueError(f"no complete frame yet: need at least n_fft={self.n_fft} samples")
        kept = _weighted_median(*self.state())
        if self.bins is None:
            power = kept
        else:
            power = np.full(self.n_bins, np.nan)
            power[self.bins] = kept
        return self._result(power)

    def state(self, collapse_open: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """``(rows, weights)`` the median is taken over (to merge several accumulators).

        ``collapse_open``: the open block enters as its own median (weight: its
        frame count), as a full block would; merging many accumulators stays cheap.
        """
        rows, weights = [], []
        if self._block:
            open_rows = np.concatenate(self._block)
            if collapse_open and len(open_rows) > 1:
                rows.append(_lower_median(open_rows)[None])
                weights.append(np.array([float(len(open_rows))]))
            else:
                rows.append(open_rows)
                weights.append(np.ones(len(open_rows)))
        for level, buf in enumerate(self._levels):
            if buf:
                rows.append(np.stack(buf))
                weights.append(np.full(len(buf), float(self.block_frames * self.base ** level)))
        return np.concatenate(rows), np.concatenate(weights)

    def _result(self, power: np.ndarray) -> StationaryResult:
        freqs = np.arange(self.n_bins) * (self.sample_rate / self.n_fft)
        persistence = None if self._counts is None else self._counts / float(self.n_frames)
        spec = None
        if self.spectrogram_pool > 0:
            cols = list(self._spec_cols)
            if self._spec_n:
                cols.append((self._spec_acc / self._spec_n).astype(np.float32))
            spec = np.stack(cols) if cols else None
        return StationaryResult(freqs, power, persistence, self.n_frames, spec,
                                self.spectrogram_pool * self.step / self.sample_rate)


def stft_power(frames: np.ndarray, window: np.ndarray, bins=None) -> np.ndarray:
    """The one STFT-power helper: ``|rfft(frames * window)|^2`` in float32.

    Shape: ``(F, n_fft) -> (F, n_fft // 2 + 1)`` (or ``(F, len(bins))``).
    """
    import scipy.fft  # ~0.4 s to import, more than the rest of audioup.metrics: on first use

    spec = scipy.fft.rfft(frames * window, axis=1, workers=1, overwrite_x=True)
    if bins is not None:
        spec = np.take(spec, bins, axis=1)
    v = spec.view(np.float32)  # interleaved re, im
    np.multiply(v, v, out=v)
    return v[:, 0::2] + v[:, 1::2]


def _lower_median(rows: np.ndarray) -> np.ndarray:
    """Per-column lower median of ``(n, bins)`` (exact median for odd ``n``).

    Powers are never negative, and non-negative IEEE floats order as their bit
    patterns do, so float32 rows are partitioned as int32 along a contiguous
    axis: the same values at about half the cost of ``np.partition(rows, k, axis=0)``.
    """
    k = (rows.shape[0] - 1) // 2
    if rows.dtype == np.float32 and rows.shape[0] > 1:
        bits = np.ascontiguousarray(rows.view(np.int32).T)
        bits.partition(k, axis=1)
        return bits[:, k].copy().view(np.float32)
    return np.partition(rows, k, axis=0)[k].copy()


def merged_result(accs: Sequence["StationarySpectrum"], max_rows: int = 512) -> StationaryResult:
    """The median over the frames of several accumulators of the same shape (all bins).

    Exact over every row held while they are at most ``max_rows``; beyond, each
    open block enters as its own median (weight: its frames), which bounds the
    cost of the merge.
    """
    accs = [a for a in accs if a.n_frames]
    if not accs:
        raise ValueError("no frames")
    if len(accs) == 1:
        return accs[0].result()
    rows, weights = zip(*(a.state() for a in accs))
    if sum(len(r) for r in rows) > max_rows:  # long signals: open blocks enter as their medians
        rows, weights = zip(*(a.state(collapse_open=True) for a in accs))
    power = _weighted_median(np.concatenate(rows), np.concatenate(weights))
    res = accs[0]._result(power)
    res.n_frames = sum(a.n_frames for a in accs)
    res.persistence = None
    return res


def _weighted_median(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-column weighted median of ``(n, bins)`` rows with ``(n,)`` weights."""
    if rows.shape[0] == 1:
        return rows[0].astype(np.float64)
    order = np.argsort(rows, axis=0, kind="stable")
    cum = np.cumsum(weights[order], axis=0)
    idx = np.argmax(cum >= 0.5 * cum[-1], axis=0)
    return np.take_along_axis(rows, order, axis=0)[idx, np.arange(rows.shape[1])].astype(np.float64)


def _stands_out(power: np.ndarray, ratio: float) -> np.ndarray:
    """``(frames, bins)`` bool: bin power > ``ratio`` x mean of bins 3..8 away."""
    pad = max(abs(d) for d in _NEIGHBOURS)
    padded = np.pad(power, ((0, 0), (pad, pad)), mode="edge")
    nb = power.shape[1]
    acc = np.zeros_like(power)
    for d in _NEIGHBOURS:
        acc += padded[:, pad + d:pad + d + nb]
    return power > (ratio / len(_NEIGHBOURS)) * acc


def stationary_spectrum(wav, sample_rate: float, n_fft: int = 4096, step: Optional[int] = None
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """Median-over-frames power spectrum of ``wav`` in dB.

    Args:
        wav: ``(T,)`` samples (numpy array or tensor), ``T >= n_fft``.
        sample_rate: Hz.
        n_fft: frame length (choose a multiple of the hop to put predicted lines on bins).
        step: frame hop (default ``n_fft // 2``).

    Returns:
        ``(freqs, spectrum_db)``, both ``(n_fft // 2 + 1,)``.
    """
    res = StationarySpectrum(sample_rate, n_fft, step).update(_as_numpy(wav)).result()
    return res.freqs, res.power_db()


def _as_numpy(wav, min_length: int = 0) -> np.ndarray:
    """A finite mono float32 ``(T,)`` array of at least ``min_length`` samples, or ``ValueError``."""
    if hasattr(wav, "detach"):
        wav = wav.detach().cpu().float().numpy()
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        wav = np.squeeze(wav)
        if wav.ndim != 1:
            raise ValueError(f"expected a mono waveform (T,), got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise ValueError("waveform contains NaN or Inf samples")
    if wav.size < min_length:
        raise ValueError(f"too short: {wav.size} samples, the analysis window is {min_length}")
    return wav
