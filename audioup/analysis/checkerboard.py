"""Checkerboard score: how periodic a layer's response to a constant input is.

A constant input has no content above DC, so anything that repeats with the
layer's period in the output is made by the layer itself: uneven overlap
(transposed convolution), phases that learned different kernels (subpixel
without ICNR), or a periodic interpolator. After the edges, the output is
exactly periodic; its mean over the periods splits into the mean (DC) and the
periodic remainder. The score is the remainder's energy over the mean's
energy, in dB: the strength of the lines at multiples of the input rate that
the layer adds to a slowly-varying signal.

The layer runs in float64 so that "flat" reads as far below -60 dB instead of
at float32's rounding floor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Union

import torch
from torch import Tensor, nn

from .probe import impulse_support, layer_factor, layer_in_channels, plain_copy, to_db

# Scores below this are float64 rounding of a layer with no periodic part (the floor is -300 dB).
FLAT_DB = -200.0


@dataclass
class CheckerboardScore:
    """Result of :func:`checkerboard_score`.

    Attributes:
        checkerboard_db: periodic (non-DC) energy over DC energy, all channels, in dB.
        per_channel_db: the same ratio for each output channel.
        factor: the period in output samples.
        profile: ``(C_out, factor)`` one period of the output (mean over the
            periods away from the edges), output phase 0 first.
        mean: ``(C_out,)`` each channel's mean.
        residual_db: energy that is not ``factor``-periodic over DC energy
            (float64 rounding; large values mean the window still saw an edge).
        margin: output samples skipped at each edge.
    """

    checkerboard_db: float
    per_channel_db: List[float]
    factor: int
    profile: List[List[float]]
    mean: List[float]
    residual_db: float
    margin: int

    def to_dict(self) -> dict:
        return {
            "checkerboard_db": self.checkerboard_db, "per_channel_db": self.per_channel_db,
            "factor": self.factor, "profile": self.profile, "mean": self.mean,
            "residual_db": self.residual_db, "margin": self.margin,
        }


def format_checkerboard_db(db: float) -> str:
    """A checkerboard score as printed by the commands: ``"+9.1 dB"``, or ``"flat (< -200 dB)"``.

    >>> format_checkerboard_db(9.06), format_checkerboard_db(-300.0)
    ('+9.1 dB', 'flat (< -200 dB)')
    """
    return f"flat (< {FLAT_DB:.0f} dB)" if db < FLAT_DB else f"{db:+.1f} dB"


def periodic_split(y: Tensor, period: int, margin: int):
    """Split ``y`` ``(C, L)`` into one-period profile, mean, and the non-periodic residual power.

    Uses the samples ``margin:L - margin`` (shifted to start at a multiple of
    ``period``, so profile phase 0 is output phase 0).

    Returns:
        ``(profile (C, period), mean (C,), residual_power (C,))``.
    """
    start = -(-margin // period) * period
    stop = y.shape[-1] - margin
    n_periods = (stop - start) // period
    if n_periods < 2:
        raise ValueError(f"signal of {y.shape[-1]} samples leaves {max(n_periods, 0)} full periods of {period} "
                         f"after skipping {margin} edge samples; use a longer input")
    cells = y[:, start:start + n_periods * period].reshape(y.shape[0], n_periods, period)
    profile = cells.mean(dim=1)
    residual = ((cells - profile.unsqueeze(1)) ** 2).mean(dim=(1, 2))
    return profile, profile.mean(dim=1), residual


def checkerboard_score(layer: nn.Module, value: Union[float, Tensor] = 1.0, periods: int = 32,
                       margin: Optional[int] = None, dtype: torch.dtype = torch.float64) -> CheckerboardScore:
    """Drive a layer with a constant and score the periodic part of its output.

    Args:
        layer: any upsampler (:func:`audioup.layers.build_upsampler`), an
            ``nn.ConvTranspose1d``, or a module with ``.factor`` mapping
            ``(B, C_in, T)`` to ``(B, C_out, ~factor*T)``. Weight norm is folded in;
            the layer itself is not changed.
        value: the constant, one number or one per input channel ``(C_in,)``.
        periods: input samples inside the measured window.
        margin: output samples to skip at each edge; default: the layer's
            measured footprint plus one period.
        dtype: computation type (float64 keeps the -60 dB claims honest).

    Returns:
        :class:`CheckerboardScore`. A layer with no periodic part scores at the
        floor (-300 dB); ``0 dB`` means the periodic part is as strong as the mean.

    Shape:
        Input built here: ``(1, C_in, T)`` of ``value``.
    """
    factor = layer_factor(layer)
    probe = plain_copy(layer, dtype)
    c_in = layer_in_channels(probe)
    if margin is None:
        margin = impulse_support(probe) + factor
    margin_in = -(-margin // factor) + 1
    length = 2 * margin_in + max(int(periods), 2)
    const = torch.as_tensor(value, dtype=dtype).reshape(-1)
    if const.numel() not in (1, c_in):
        raise ValueError(f"value must be one number or {c_in} (one per input channel), got {const.numel()}")
    x = const.reshape(1, -1, 1).expand(1, c_in, length).contiguous()
    with torch.no_grad():
        y = probe(x)[0]
    profile, mean, residual = periodic_split(y, factor, margin)
    periodic = ((profile - mean.unsqueeze(1)) ** 2).mean(dim=1)
    dc = mean ** 2
    per_channel = [to_db(float(p) / float(d)) if d > 0 else (0.0 if p > 0 else to_db(0.0))
                   for p, d in zip(periodic, dc)]
    total_dc = float(dc.sum())
    overall = to_db(float(periodic.sum()) / total_dc) if total_dc > 0 else (0.0 if periodic.sum() > 0 else to_db(0.0))
    residual_db = to_db(float(residual.sum()) / total_dc) if total_dc > 0 else to_db(float(residual.sum()))
    return CheckerboardScore(overall, per_channel, factor, profile.tolist(), mean.tolist(), residual_db, margin)


__all__ = ["FLAT_DB", "CheckerboardScore", "checkerboard_score", "format_checkerboard_db", "periodic_split"]
