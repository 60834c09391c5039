"""Interpolation as per-phase FIR taps, and the Kaiser-windowed sinc.

Every interpolator used by resize-convolution (nearest, linear, band-limited
sinc) maps ``x`` at the low rate to ``u`` at ``factor`` times that rate by a
rule that repeats every ``factor`` output samples::

    u[factor * m + r] = sum_e taps[r, e] * x_rep[m + offset + e]

where ``x_rep`` is ``x`` extended by repeating its edge samples. This module
builds the ``(factor, E)`` tap tables and applies them; :mod:`.resize` folds them
into the convolution that follows (polyphase form).

Sample positions follow PyTorch's ``align_corners=False`` convention: output
sample ``factor * m + r`` sits at input time ``m + (r + 0.5) / factor - 0.5``,
so the three interpolators are aligned with each other.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import interleave

INTERP_MODES = ("nearest", "linear", "sinc")


def phase_position(r: int, factor: int) -> float:
    """Offset (in input samples) of output phase ``r`` from input sample ``m``."""
    return (r + 0.5) / factor - 0.5


def kaiser_window(t: Tensor, half_width: float, beta: float) -> Tensor:
    """Continuous Kaiser window evaluated at times ``t``, zero for ``|t| >= half_width``."""
    ratio = (t / half_width).clamp(-1.0, 1.0)
    w = torch.special.i0(beta * torch.sqrt(1.0 - ratio * ratio)) / torch.special.i0(torch.tensor(beta, dtype=t.dtype))
    return torch.where(t.abs() < half_width, w, torch.zeros_like(w))


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's empirical beta for a stop-band attenuation in dB (Kaiser 1974)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a >= 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """Low-pass FIR: a sinc with ``cutoff`` (cycles/sample, <= 0.5) under a Kaiser window.

    ``half_width`` is the transition band's half width (cycles/sample); the
    window's beta follows from the attenuation Kaiser's formula predicts for that
    width and length. Taps sum to 1. Even lengths are centred between samples.

    Shape:
        Output: ``(kernel_size,)``.
    """
    if not 0 < cutoff <= 0.5:
        raise ValueError(f"cutoff must be in (0, 0.5], got {cutoff}")
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    beta = kaiser_beta(attenuation)
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta, dtype=torch.float64)
    if kernel_size % 2 == 0:
        t = torch.arange(-half, half, dtype=torch.float64) + 0.5
    else:
        t = torch.arange(kernel_size, dtype=torch.float64) - half
    h = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (h / h.sum()).float()


def interpolation_taps(mode: str, factor: int, zeros: int = 6, rolloff: float = 0.95,
                       beta: float = 8.6) -> Tuple[Tensor, int]:
    """Tap table of an interpolator.

    Args:
        mode: ``"nearest"``, ``"linear"`` (PyTorch's ``align_corners=False``) or
            ``"sinc"`` (Kaiser-windowed sinc low-pass at ``rolloff`` times the
            input's Nyquist, ``zeros`` zero crossings each side; each phase's
            taps are normalised to sum to 1 so a constant stays exactly constant).
        factor: upsampling factor.

    Returns:
        ``(taps, offset)``: ``taps`` of shape ``(factor, E)`` in float64 and the
        input offset of column 0 (see the module docstring).
    """
    if mode == "nearest":
        return torch.ones(factor, 1, dtype=torch.float64), 0
    if mode == "linear":
        taps = torch.zeros(factor, 3, dtype=torch.float64)  # offsets -1, 0, +1
        for r in range(factor):
            c = phase_position(r, factor)
            if c >= 0:
                taps[r, 1], taps[r, 2] = 1.0 - c, c
            else:
                taps[r, 0], taps[r, 1] = -c, 1.0 + c
        return taps, -1
    if mode == "sinc":
        if zeros < 1 or not 0 < rolloff <= 1:
            raise ValueError(f"sinc needs zeros >= 1 and 0 < rolloff <= 1, got {zeros}, {rolloff}")
        q = torch.arange(-zeros, zeros + 2, dtype=torch.float64)
        rows = []
        for r in range(factor):
            t = q - phase_position(r, factor)
            h = torch.sinc(rolloff * t) * kaiser_window(t, zeros + 0.5, beta)
            rows.append(h / h.sum())
        return torch.stack(rows), -zeros
    raise ValueError(f"unknown interpolation mode {mode!r}; expected one of {INTERP_MODES}")


def depthwise_taps(taps: Tensor, channels: int) -> Tensor:
    """Tap table as a grouped-convolution kernel, shape ``(channels * factor, 1, E)``."""
    return taps.unsqueeze(1).repeat(channels, 1, 1)


def apply_taps(x: Tensor, taps: Tensor, offset: int, kernel: Optional[Tensor] = None) -> Tensor:
    """Interpolate ``x`` with a tap table (edges extended by replication).

    ``kernel`` may pass :func:`depthwise_taps` precomputed (modules keep it as a
    buffer, which also keeps the ONNX graph's kernel shape static).

    Shape:
        Input: ``(B, C, T)``; taps ``(factor, E)``. Output: ``(B, C, factor * T)``.
    """
    channels = x.shape[1]
    factor, n_taps = taps.shape
    if kernel is None:
        kernel = depthwise_taps(taps, channels)
    xp = F.pad(x, (-offset, n_taps - 1 + offset), mode="replicate")
    u = F.conv1d(xp, kernel.to(x.dtype), groups=channels)  # (B, C * factor, T), channel order (c, r)
    return interleave(u, factor)
