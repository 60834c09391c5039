"""Resize-convolution: interpolate, then a stride-1 convolution.

The map ``x -> conv(interp(x))`` repeats every ``factor`` output samples: it is
a strided transposed convolution of the un-interpolated input whose kernel is
the high-rate kernel folded through the interpolator's taps (polyphase form,
:func:`transposed_plan`). The default forward computes it that way, at the low
rate. Nearest resize with ``kernel_size <= factor + 1`` then needs exactly the
``2 * factor`` taps of HiFi-GAN's transposed convolution: the two layers cost
the same and differ only in that resize ties the taps, so that every phase sees
the same kernel sum (no checkerboard).

Edges: the high-rate convolution pads its input (``replicate`` by default,
``reflect`` or ``zeros``). For nearest and linear with ``replicate`` (and
nearest with ``zeros``) the folded form is exact everywhere; otherwise the few
edge samples are recomputed with the plain path on a short slice.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from .base import Upsampler, check_args, check_pad_mode, init_conv_, pad1d, same_padding
from .interp import INTERP_MODES, apply_taps, depthwise_taps, interpolation_taps
import torch.nn.functional as F


def default_resize_kernel(factor: int, mode: str = "nearest") -> int:
    """Default high-rate kernel of a resize-convolution.

    Nearest: an odd kernel covering one input period, ``factor + 1`` (even factor)
    or ``factor`` (odd), at least 3: with the nearest hold it can learn a
    triangular (linear-like) interpolation, and it folds to exactly
    ``2 * factor`` taps. Linear and sinc: 3, since their interpolation is
    already smooth (sinc band-limited), so the convolution needs no length for
    smoothing; linear then folds to ``2 * factor + 2`` taps.
    """
    if mode != "nearest":
        return 3
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


def transposed_plan(taps: Tensor, offset: int, factor: int, kernel_size: int):
    """Fold an interpolator and a high-rate kernel into one transposed-convolution kernel.

    Output phase ``r`` of ``conv(interp(x))`` reads ``x[m + d]`` with weight
    ``W[r, d]``; a transposed convolution with stride ``factor`` reads the same
    sample with its tap ``t = r - factor * d``. So the whole layer is one
    ``conv_transpose1d`` whose kernel spans the ``(r, d)`` pairs in use: for
    nearest with ``kernel_size <= factor + 1`` that is ``2 * factor`` taps,
    HiFi-GAN's transposed kernel, with the taps tied to the ``kernel_size``
    free weights (the weight-tying view of Odena et al.).

    Returns:
        A dict: ``scatter`` ``(kernel_size, L)`` with
        ``K[i, o, t] = sum_j w[o, i, j] * scatter[j, t]``; ``pad``, the
        ``(left, right)`` edge extension of ``x``; and ``padding``,
        ``output_padding`` for ``conv_transpose1d`` so the output is exactly
        ``factor * T`` samples.
    """
    left, _ = same_padding(kernel_size)
    entries = []
    for r in range(factor):
        for j in range(kernel_size):
            pos = r + j - left
            cell, phase = pos // factor, pos % factor
            for e in range(taps.shape[1]):
                if taps[phase, e] != 0:
                    entries.append((j, r - factor * (cell + offset + e), cell + offset + e, float(taps[phase, e])))
    tmin = min(e[1] for e in entries)
    length = max(e[1] for e in entries) - tmin + 1
    scatter = torch.zeros(kernel_size, length, dtype=torch.float64)
    for j, t, _, value in entries:
        scatter[j, t - tmin] += value
    pad_left = max(0, -min(e[2] for e in entries))
    pad_right = max(0, max(e[2] for e in entries))
    # y[factor*m + r] = z[factor*m + r + shift] for z = conv_transpose1d(pad(x), K).
    shift = factor * pad_left - tmin
    # Crop `shift` on the left and the rest on the right with conv_transpose1d's own
    # padding (equal both sides) and output_padding, extending x a little where needed.
    excess = (pad_left + pad_right - 1) * factor + length - 2 * shift
    output_padding = (-excess) % factor
    extra_left, extra_right = 0, (-output_padding - excess) // factor
    while extra_right < 0 or shift + factor * extra_left < 0:
        extra_left, extra_right = extra_left + 1, extra_right + 2
    return {"scatter": scatter, "pad": (pad_left + extra_left, pad_right + extra_right),
            "padding": shift + factor * extra_left, "output_padding": output_padding}


class ResizeConv1d(Upsampler):
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
        fast: compute in folded (polyphase) form at the low rate when that needs
            fewer multiplies than the plain path, which holds for nearest and linear
            at their default kernels but not for sinc (its folded kernel is
            ``2 * zeros * factor`` taps long): there the plain path runs anyway. The
            attribute ``fast`` and the ``repr`` show the path actually used. ``False``
            always runs the reference path (interpolate, pad, convolve). Both give the
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
        kernel_size = default_resize_kernel(factor, mode) if kernel_size is None else kernel_size
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
        plan = transposed_plan(taps, offset, factor, kernel_size)
        self.register_buffer("scatter", plan["scatter"], persistent=False)
        self.transposed_len = plan["scatter"].shape[1]
        self.low_pad: Tuple[int, int] = plan["pad"]
        self.transposed_padding, self.transposed_output_padding = plan["padding"], plan["output_padding"]
        # The folded form pays off when it needs fewer multiplies than the plain convolution.
        self.fast = bool(fast) and self.transposed_len <= kernel_size * factor
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

    def transposed_weight(self) -> Tensor:
        """The layer's ``(in, out, L)`` transposed-convolution kernel, from the current weight."""
        w = self.weight.transpose(0, 1).reshape(self.in_channels * self.out_channels, self.kernel_size)
        kernel = torch.matmul(w, self.scatter.to(w.dtype))
        return kernel.reshape(self.in_channels, self.out_channels, self.transposed_len)

    def macs_per_input_sample(self) -> int:
        """Folded path: the ``transposed_len``-tap kernel per channel pair; plain path: the high-rate
        convolution (``kernel_size`` taps at ``factor`` outputs per input) plus the interpolation."""
        c_in, c_out, f = self.in_channels, self.out_channels, self.factor
        if self.fast:
            return c_in * c_out * self.transposed_len
        return c_in * c_out * self.kernel_size * f + c_in * f * self.taps.shape[1]

    def folded_kernel(self) -> Optional[Tuple[Tensor, int]]:
        """:meth:`transposed_weight`, whose tap ``t`` sits ``t - start`` after ``factor * n`` with
        ``start = transposed_padding - factor * low_pad[0]`` (the fast path pads the input first)."""
        return self.transposed_weight(), self.transposed_padding - self.factor * self.low_pad[0]

    def folded_basis(self) -> Optional[Tuple[Tensor, int]]:
        """The scatter matrix of :func:`transposed_plan`: weight ``j`` of a pair spreads over the taps."""
        return self.scatter.double(), self.transposed_padding - self.factor * self.low_pad[0]

    def weight_from_free(self, free: Tensor) -> Tensor:
        return free.permute(1, 0, 2)  # (C_out, C_in, k), a stride-1 convolution's layout

    def forward_fast(self, x: Tensor) -> Tensor:
        """Folded path: one strided transposed convolution at the low rate (the default forward)."""
        if self.edge_fix and x.shape[-1] <= 2 * self.edge_len:
            return self.forward_plain(x)
        xp = pad1d(x, self.low_pad[0], self.low_pad[1], self.low_pad_mode)
        y = F.conv_transpose1d(xp, self.transposed_weight(), self.bias, self.factor,
                               self.transposed_padding, self.transposed_output_padding)
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
    :class:`ResizeConv1d` without ``mode`` (default kernel 3: at 3 taps the
    layer needs about 1.5x the multiplies of HiFi-GAN's transposed convolution).

    Shape:
        Input: ``(B, in_channels, T)``. Output: ``(B, out_channels, factor * T)``.
    """

    def __init__(self, in_channels: int, out_channels: int, factor: int,
                 kernel_size: Optional[int] = None, bias: bool = True, pad_mode: str = "replicate",
                 fast: bool = True, zeros: int = 6, rolloff: float = 0.95, beta: float = 8.6):
        super().__init__(in_channels, out_channels, factor, kernel_size, bias, mode="sinc",
                         pad_mode=pad_mode, fast=fast, zeros=zeros, rolloff=rolloff, beta=beta)
