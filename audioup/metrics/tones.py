"""Where an upsampling schedule puts its tonal artifacts.

A layer with stride ``s`` whose output runs at rate ``r`` repeats its kernel every
``s`` output samples, i.e. at its *input* rate ``r / s``; uneven kernel overlap (or
untied sub-pixel phases) turns that periodicity into spectral lines at multiples
of ``r / s`` (Pons et al., ICASSP 2021: "tonal artifacts at sampling rate /
upsampling factor"). Later layers carry the lines through, so a whole generator
with hop ``H = prod(factors)`` can put lines at every multiple of ``sr / H`` up to
Nyquist. Each line is attributed to the deepest (latest) layer whose input rate
divides it: with factors 8, 8, 2, 2 at 22.05 kHz, 11025 Hz belongs to the last
layer, 5512.5 Hz to the third, multiples of 689 Hz to the second, the rest to
the first.

>>> [t.freq_hz for t in predicted_tones(22050, factors=(8, 8, 2, 2))][:2]
[86.1328125, 172.265625]
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple


@dataclass(frozen=True)
class PredictedTone:
    """One predicted artifact line.

    Attributes:
        freq_hz: frequency of the line.
        harmonic: ``freq_hz = harmonic * sample_rate / hop``.
        layer: 0-based index of the layer it is attributed to (``0`` when only
            the hop is known).
    """

    freq_hz: float
    harmonic: int
    layer: int


def parse_factors(text) -> Tuple[int, ...]:
    """``"8,8,2,2"`` (or ``"8x8x2x2"``, or a sequence) -> ``(8, 8, 2, 2)``.

    Raises:
        ValueError: empty, non-integer or a factor below 1.
    """
    if isinstance(text, str):
        if not re.fullmatch(r"\s*\d+(\s*[,x ]\s*\d+)*\s*", text):
            raise ValueError(f"upsampling factors look like 8,8,2,2; got {text!r}")
        parts = re.split(r"[,x ]+", text.strip())
    else:
        parts = list(text)
    try:
        factors = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"upsampling factors must be integers, got {text!r}") from None
    if not factors or any(f < 1 for f in factors):
        raise ValueError(f"upsampling factors must be integers >= 1, got {text!r}")
    return factors


def resolve_schedule(factors: Optional[Sequence[int]] = None,
                     hop: Optional[int] = None) -> Tuple[Tuple[int, ...], int]:
    """Check ``factors`` / ``hop`` and return ``(factors, hop)``.

    With only ``hop`` the schedule is one layer of that factor (every line is
    then attributed to layer 0). With both, their product must agree.
    """
    if factors is None and hop is None:
        raise ValueError("give the upsampling factors or the hop")
    if factors is not None:
        factors = parse_factors(factors)
        prod = math.prod(factors)
        if hop is not None and int(hop) != prod:
            raise ValueError(f"hop {hop} != product of factors {factors} ({prod})")
        return factors, prod
    hop = int(hop)
    if hop < 1:
        raise ValueError(f"hop must be >= 1, got {hop}")
    return (hop,), hop


def layer_input_rates(sample_rate: float, factors: Sequence[int]) -> List[float]:
    """Input rate of each layer (the rate its kernel repeats at), first layer first."""
    rates, rate = [], float(sample_rate)
    for f in reversed(factors):
        rate /= f
        rates.append(rate)
    return rates[::-1]


def predicted_tones(sample_rate: float, factors: Optional[Sequence[int]] = None,
                    hop: Optional[int] = None) -> List[PredictedTone]:
    """Every multiple of ``sample_rate / hop`` in ``(0, sample_rate / 2]``, attributed to a layer.

    Args:
        sample_rate: output rate of the generator (Hz).
        factors: per-layer upsampling factors, first layer first (e.g. ``(8, 8, 2, 2)``).
        hop: total upsampling factor, when the per-layer factors are unknown.

    Returns:
        A list of :class:`PredictedTone`, in increasing frequency.
    """
    factors, hop = resolve_schedule(factors, hop)
    # Layer i's input rate is sr / prod(factors[i:]) = (sr / hop) * prod(factors[:i]),
    # so harmonic k of sr / hop belongs to the last layer i with prod(factors[:i]) | k.
    periods = [math.prod(factors[:i]) for i in range(len(factors))]
    base = sample_rate / hop
    tones = []
    for k in range(1, hop // 2 + 1):
        layer = max(i for i, p in enumerate(periods) if k % p == 0)
        tones.append(PredictedTone(freq_hz=k * base, harmonic=k, layer=layer))
    return tones


def default_n_fft(sample_rate: float, hop: int, min_lines_spacing: int = 16,
                  window_seconds: float = 0.186) -> int:
    """Analysis FFT size for a hop: a multiple of ``hop`` so predicted lines fall on bins.

    ``n_fft = hop * m`` with ``m >= min_lines_spacing`` (so there are ``m`` bins
    between neighbouring predicted lines, room for a local floor and shifted
    grids) and ``m`` the nearest to a window of ``window_seconds`` otherwise, so
    that bins are about 5.4 Hz wide at every rate (prominences over a floor
    depend on the bin width) and speech harmonics, which move, smear out.
    22.05 kHz, hop 256: 4096; 44.1 kHz: 8192; 48 kHz: 8960.
    """
    m = max(int(min_lines_spacing), round(window_seconds * sample_rate / hop))
    return int(hop) * m
