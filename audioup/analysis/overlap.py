"""Uneven overlap: how many kernel taps land on each output sample.

A transposed convolution with kernel ``k`` and stride ``s`` paints one copy of
its kernel every ``s`` output samples. Output sample ``n`` receives the taps
``j`` with ``j = n mod s`` (mod ``s``), i.e. ``ceil((k - r) / s)`` of them for
phase ``r = n mod s``. When ``s`` does not divide ``k`` the count changes from
phase to phase (kernel 3, stride 2: 2, 1, 2, 1, ...): that is the uneven
overlap of Odena et al. (Distill 2016) and the root of the checkerboard.
Stacked layers multiply the pattern: its period is the product of the strides.

For any upsampling layer (resize-convolution, subpixel, ...),
:func:`layer_overlap` measures the same count by giving the layer all-one
weights and a constant input, so its output is the number of taps (weighted by
the interpolator, whose taps sum to one) that reach each output sample.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..layers.base import kernel_length
from .probe import layer_factor, layer_in_channels, plain_copy


@dataclass
class OverlapPattern:
    """Taps per output position over one period.

    Attributes:
        coverage: ``period`` counts, output phase 0 first (floats: exact
            integers for plain convolutions, weighted counts for interpolators).
        period: the pattern's period in output samples.
        layers: ``(kernel_size, stride)`` of each stacked layer, when known.
        kernel: the stack's composite footprint (taps of a one-sample input), when known.
        padding: output samples cropped on the left (rotates the pattern).
        names: a label for each stacked layer (for the figure).
    """

    coverage: List[float]
    period: int
    layers: List[Tuple[int, int]] = field(default_factory=list)
    kernel: List[float] = field(default_factory=list)
    padding: int = 0
    names: List[str] = field(default_factory=list)

    @property
    def even(self) -> bool:
        """``True`` when every output position gets the same number of taps."""
        return max(self.coverage) - min(self.coverage) <= 1e-9 * max(1.0, max(self.coverage))

    @property
    def ratio(self) -> float:
        """Largest over smallest coverage (``inf`` where some position gets no tap)."""
        low = min(self.coverage)
        return float("inf") if low <= 0 else max(self.coverage) / low

    def to_dict(self) -> dict:
        return {
            "coverage": [round(c, 9) for c in self.coverage], "period": self.period,
            "even": self.even, "ratio": None if self.ratio == float("inf") else self.ratio,
            "layers": [list(x) for x in self.layers], "padding": self.padding,
        }


def overlap_pattern(kernel_size: int, stride: int, padding: int = 0) -> OverlapPattern:
    """Coverage of one transposed convolution (kernel ``kernel_size``, stride ``stride``).

    Args:
        kernel_size, stride: the layer's kernel length and stride (>= 1).
        padding: output samples cropped on the left (``ConvTranspose1d``'s
            ``padding``); it only rotates the pattern.

    >>> overlap_pattern(3, 2).coverage
    [2.0, 1.0]
    """
    return stack_overlap([(kernel_size, stride)], padding=padding)


def stack_overlap(layers: Sequence[Tuple[int, int]], padding: int = 0) -> OverlapPattern:
    """Coverage of stacked transposed convolutions, ``[(kernel, stride), ...]`` from input to output.

    The composite footprint is the first kernel, zero-stuffed by the next
    stride and convolved with the next kernel, and so on; its sum over each
    output phase (period = product of strides) is that phase's coverage.
    """
    if not layers:
        raise ValueError("stack_overlap needs at least one (kernel_size, stride) pair")
    kernel = np.ones(1)
    period = 1
    for k, s in layers:
        if int(k) < 1 or int(s) < 1:
            raise ValueError(f"kernel size and stride must be >= 1, got kernel {k}, stride {s}")
        stuffed = np.zeros(len(kernel) * s - (s - 1))
        stuffed[::s] = kernel
        kernel = np.convolve(stuffed, np.ones(int(k)))
        period *= int(s)
    padded = np.concatenate([kernel, np.zeros((-len(kernel)) % period)])
    coverage = padded.reshape(-1, period).sum(axis=0)
    coverage = np.roll(coverage, -padding)
    return OverlapPattern([float(c) for c in coverage], period, [(int(k), int(s)) for k, s in layers],
                          [float(v) for v in kernel], padding)


def layer_overlap(layer: nn.Module, length: int = 32) -> OverlapPattern:
    """Measured coverage of any upsampling layer (one output channel, away from the edges).

    Args:
        layer: an upsampler from :func:`audioup.layers.build_upsampler`, an
            ``nn.ConvTranspose1d`` (also under weight norm), or any module with
            ``.factor`` and a ``.weight``.
        length: input length used for the measurement.

    Returns:
        The coverage over one period, phase 0 = the first output sample. For a
        transposed convolution this equals :func:`overlap_pattern` with the
        layer's padding; resize-convolution and subpixel give an even pattern.
        Nearest resize-convolution is also described as the stack it is
        (nearest = kernel ``factor``, stride ``factor`` of ones; then the
        stride-1 convolution), so its figure shows why the overlap is even.
    """
    factor = layer_factor(layer)
    probe = plain_copy(layer)
    with torch.no_grad():
        probe.weight.fill_(1.0)
        if getattr(probe, "bias", None) is not None:
            probe.bias.zero_()
    c_in = layer_in_channels(probe)
    length = max(int(length), 16)
    with torch.no_grad():
        y = probe(torch.ones(1, c_in, length, dtype=torch.float64))[0, 0] / c_in
    margin = (y.shape[-1] // (4 * factor)) * factor
    middle = y[margin:y.shape[-1] - margin]
    middle = middle[: (middle.shape[-1] // factor) * factor].reshape(-1, factor)
    coverage = middle.mean(dim=0)
    layers: List[Tuple[int, int]] = []
    pad = 0
    names: List[str] = []
    if isinstance(probe, nn.ConvTranspose1d) and probe.dilation[0] == 1:
        layers = [(kernel_length(probe), factor)]
        pad = int(probe.padding[0]) % factor
    elif getattr(probe, "mode", None) == "nearest" and isinstance(getattr(probe, "kernel_size", None), int):
        layers = [(factor, factor), (probe.kernel_size, 1)]
        names = [f"nearest x{factor}", f"conv k={probe.kernel_size}"]
    return OverlapPattern([float(c) for c in coverage], factor, layers, [], pad, names)


__all__ = ["OverlapPattern", "overlap_pattern", "stack_overlap", "layer_overlap"]
