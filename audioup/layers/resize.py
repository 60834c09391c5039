"""Resize-convolution: interpolate, then a stride-1 convolution.

The map ``x -> conv(interp(x))`` repeats every ``factor`` output samples, so it
can be computed at the low rate (polyphase form): each output phase ``r`` is a
short convolution of the un-interpolated input whose kernel is the high-rate
kernel folded through the interpolator's taps. Phases that read the same input
offsets are grouped into one convolution, so nearest resize with kernel
``k <= factor + 1`` costs two input taps per phase: the same multiply count as
a transposed convolution with kernel ``2 * factor``.

Edges: the high-rate convolution pads its input (``replicate`` by default,
``reflect`` or ``zeros``). For ``replicate`` (and ``zeros`` with nearest) the
polyphase form of nearest and linear is exact everywhere; otherwise the few edge samples are
recomputed with the plain path on a short slice.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from .base import check_args, check_pad_mode, init_conv_, pad1d, same_padding
from .interp import INTERP_MODES, apply_taps, depthwise_taps, interpolation_taps
import torch.nn.functional as F


def default_resize_kernel(factor: int) -> int:
    """Odd kernel covering one input period: ``factor + 1`` (even factor), ``factor`` (odd), at least 3."""
    k = factor + 1 if factor % 2 == 0 else factor
    return max(3, k)


def plain_interpolate(x: Tensor, factor: int, mode: str, taps: Tensor, offset: int,
                      kernel: Optional[Tensor] = None) -> Tensor:
    """The interpolation step of the reference path (``(B, C, T) -> (B, C, factor*T)``)."""
    if mode == "nearest":
        return F.interpolate(x, scale_factor=float(factor), mode="nearest")
    if mode == "linear":
        return F.interpolate(x, scale_factor=float(factor), mode="linear", align_corners=False)
    return apply_taps(x, taps, offset, kernel)


def polyphase_plan(taps: Tensor, offset: int, factor: int, kernel_size: int):
    """Fold a tap table through a high-rate kernel.

    Returns ``(scatter, groups, dmin, dmax)``: ``scatter`` of shape
    ``(kernel_size, factor, D)`` maps the high-rate kernel to polyphase kernels
    (``W[o, i, r, d] = sum_j w[o, i, j] * scatter[j, r, d]``, input offset
    ``dmin + d``); ``groups`` lists ``(r0, r1, d0, d1)``: phases ``r0:r1`` use
    offsets ``d0:d1`` only.
    """
    left, _ = same_padding(kernel_size)
    n_taps = taps.shape[1]
    entries = []
    for r in range(factor):
        for j in range(kernel_size):
            pos = r + j - left
            cell, phase = pos // factor, pos % factor
            for e in range(n_taps):
                if taps[phase, e] != 0:
                    entries.append((j, r, cell + offset + e, float(taps[phase, e])))
    dmin = min(e[2] for e in entries)
    dmax = max(e[2] for e in entries)
    scatter = torch.zeros(kernel_size, factor, dmax - dmin + 1, dtype=torch.float64)
    span = [[dmax, dmin] for _ in range(factor)]
    for j, r, d, value in entries:
        scatter[j, r, d - dmin] += value
        span[r][0] = min(span[r][0], d)
        span[r][1] = max(span[r][1], d)
    groups: List[Tuple[int, int, int, int]] = []
    for r in range(factor):
        lo, hi = span[r][0] - dmin, span[r][1] - dmin + 1
        if groups and groups[-1][1] == r and groups[-1][2:] == (lo, hi):
            groups[-1] = (groups[-1][0], r + 1, lo, hi)
        else:
            groups.append((r, r + 1, lo, hi))
    return scatter, groups, dmin, dmax


class ResizeConv1d(nn.Module):
    """Interpolate by ``factor`` (nearest, linear or sinc), then a stride-1 convolution.

    Args:
        in_channels, out_channels: channel counts.
        factor: integer upsampling factor >= 1.
        kernel_size: the convolution's length at the high rate
            (default :func:`default_resize_kernel`).
        bias: add a learnable bias.
        mode: ``"nearest"``, ``"linear"`` or ``"sinc"`` (see :mod:`.interp`).
        pad_mode: edge padding of the convolution: ``"replicate"`` (default),
            ``"reflect"`` or ``"zeros"``.
        fast: compute in polyphase form at the low rate (default). ``False``
            runs the reference path (interpolate, pad, convolve). Both give the
            same output to float tolerance, edges included.
        zeros, rolloff, beta: sinc options (see :func:`.interp.interpolation_taps`).

    Shape:
        Input: ``(B, in_channels, T)``. Output: ``(B, out_channels, factor * T)``.

    >>> ResizeConv1d(4, 2, factor=3)(torch.zeros(1, 4, 5)).shape
    torch.Size([1, 2, 15])
    """

    def __init__(self, in_channels: int, out_channels: int, factor: int,
                 kernel_size: Optional[int] = None, bias: bool = True, mode: str = "nearest",
                 pad_mode: str = "replicate", fast: bool = True, zeros: int = 6,
                 rolloff: float = 0.95, beta: float = 8.6):
        super().__init__()
        kernel_size = default_resize_kernel(factor) if kernel_size is None else kernel_size
        check_args(in_channels, out_channels, factor, kernel_size)
        if mode not in INTERP_MODES:
            raise ValueError(f"mode must be one of {INTERP_MODES}, got {mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.factor, self.kernel_size = factor, kernel_size
        self.mode, self.pad_mode = mode, check_pad_mode(pad_mode)
        self.pad_left, self.pad_right = same_padding(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        init_conv_(self.weight, self.bias, in_channels * kernel_size)

        taps, offset = interpolation_taps(mode, factor, zeros=zeros, rolloff=rolloff, beta=beta)
        self.register_buffer("taps", taps, persistent=False)
        self.register_buffer("taps_kernel", depthwise_taps(taps, in_channels), persistent=False)
        self.taps_offset = offset
        scatter, groups, dmin, dmax = polyphase_plan(taps, offset, factor, kernel_size)
        self.register_buffer("scatter", scatter, persistent=False)
        self.groups: List[Tuple[int, int, int, int]] = groups
        self.dmin, self.dmax = dmin, dmax
        polyphase_taps = sum((r1 - r0) * (d1 - d0) for r0, r1, d0, d1 in groups)
        # Polyphase pays off when it needs fewer multiplies than the plain convolution.
        self.fast = bool(fast) and polyphase_taps <= kernel_size * factor
        # Replicating x at the low rate equals replicating u at the high rate only for
        # nearest and linear; zero-padding x equals zero-padding u only for nearest.
        exact = (pad_mode == "replicate" and mode != "sinc") or (pad_mode == "zeros" and mode == "nearest")
        self.edge_fix = not exact
        self.low_pad_mode = "zeros" if pad_mode == "zeros" and mode == "nearest" else "replicate"
        # Input samples that reach the first/last `pad` outputs, with margin.
        self.edge_len = (kernel_size + factor - 1) // factor + taps.shape[1] + 2

    def forward(self, x: Tensor) -> Tensor:
        if self.fast:
            return self.forward_fast(x)
        return self.forward_plain(x)

    def forward_plain(self, x: Tensor) -> Tensor:
        """Reference path: interpolate, pad at the high rate, convolve."""
        u = plain_interpolate(x, self.factor, self.mode, self.taps, self.taps_offset, self.taps_kernel)
        u = pad1d(u, self.pad_left, self.pad_right, self.pad_mode)
        return F.conv1d(u, self.weight, self.bias)

    def polyphase_weights(self) -> Tensor:
        """``(out, in, factor, D)`` polyphase kernels from the current weight."""
        w = self.weight
        return torch.matmul(w.reshape(-1, self.kernel_size), self.scatter.reshape(self.kernel_size, -1).to(w.dtype)
                            ).reshape(w.shape[0], w.shape[1], self.factor, -1)

    def forward_fast(self, x: Tensor) -> Tensor:
        """Polyphase path at the low rate (the default forward)."""
        batch, _, length = x.shape
        if self.edge_fix and length <= 2 * self.edge_len:
            return self.forward_plain(x)
        poly = self.polyphase_weights()
        xp = pad1d(x, -self.dmin, self.dmax, self.low_pad_mode)
        phases: List[Tensor] = []
        for r0, r1, d0, d1 in self.groups:
            n = r1 - r0
            kernel = poly[:, :, r0:r1, d0:d1].permute(0, 2, 1, 3).reshape(self.out_channels * n, self.in_channels, d1 - d0)
            bias: Optional[Tensor] = None
            if self.bias is not None:
                bias = self.bias.repeat_interleave(n)
            seg = xp[:, :, d0:d0 + length + d1 - d0 - 1]
            phases.append(F.conv1d(seg, kernel, bias).reshape(batch, self.out_channels, n, length))
        y = torch.cat(phases, dim=2).transpose(2, 3).reshape(batch, self.out_channels, length * self.factor)
        if self.edge_fix:
            y = self._fix_edges(x, y)
        return y

    def _fix_edges(self, x: Tensor, y: Tensor) -> Tensor:
        n = self.edge_len
        out_len = y.shape[-1]
        parts: List[Tensor] = []
        if self.pad_left > 0:
            parts.append(self.forward_plain(x[:, :, :n])[:, :, :self.pad_left])
        parts.append(y[:, :, self.pad_left:out_len - self.pad_right])
        if self.pad_right > 0:
            tail = self.forward_plain(x[:, :, x.shape[-1] - n:])
            parts.append(tail[:, :, tail.shape[-1] - self.pad_right:])
        return torch.cat(parts, dim=-1)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, factor={self.factor}, kernel_size={self.kernel_size}, "
                f"mode={self.mode}, pad_mode={self.pad_mode}, fast={self.fast}, bias={self.bias is not None}")


class SincConv1d(ResizeConv1d):
    """Band-limited interpolation (Kaiser-windowed sinc at the input's Nyquist), then a convolution.

    Equivalent to zero-stuffing followed by a windowed-sinc low-pass (the
    anti-aliased upsampling BigVGAN uses inside its activations), written as
    one fractional-delay filter per output phase. Same arguments as
    :class:`ResizeConv1d` without ``mode``.

    Shape:
        Input: ``(B, in_channels, T)``. Output: ``(B, out_channels, factor * T)``.
    """

    def __init__(self, in_channels: int, out_channels: int, factor: int,
                 kernel_size: Optional[int] = None, bias: bool = True, pad_mode: str = "replicate",
                 fast: bool = True, zeros: int = 6, rolloff: float = 0.95, beta: float = 8.6):
        super().__init__(in_channels, out_channels, factor, kernel_size, bias, mode="sinc",
                         pad_mode=pad_mode, fast=fast, zeros=zeros, rolloff=rolloff, beta=beta)
