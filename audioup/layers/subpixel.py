"""Subpixel convolution: a low-rate convolution to ``factor * C_out`` channels, then the 1D periodic shuffle."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Upsampler, check_args, check_pad_mode, init_conv_, interleave, pad1d, same_padding


def icnr_(weight: Tensor, bias, factor: int) -> None:
    """ICNR initialisation (Aitken et al. 2017), in place.

    Every output channel's ``factor`` phases get the same kernel (and bias), so
    the layer starts as a low-rate convolution followed by nearest-neighbour
    upsampling: no checkerboard at initialisation.
    """
    out_total = weight.shape[0]
    base = torch.empty(out_total // factor, *weight.shape[1:], dtype=weight.dtype)
    b0 = torch.empty(out_total // factor, dtype=weight.dtype) if bias is not None else None
    init_conv_(base, b0, weight.shape[1] * weight.shape[2])
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(factor, dim=0))
        if bias is not None:
            bias.copy_(b0.repeat_interleave(factor))


def subpixel_basis(factor: int, kernel_size: int, pad_left: int, tied: bool) -> Tuple[Tensor, int]:
    """Folded taps of a sub-pixel layer: weight ``j`` of phase ``r`` lands at ``tau = r + factor * (pad_left - j)``.

    ``tied`` (ICNR): the ``factor`` phases share one kernel, so there are ``kernel_size`` free
    weights per channel pair and each fills a whole block of ``factor`` taps, a nearest
    resize's structure (no checkerboard); otherwise ``factor * kernel_size`` (weight
    ``r * kernel_size + j``), which can make any transposed kernel that fits.
    """
    length = factor * kernel_size
    start = factor * (kernel_size - 1 - pad_left)
    free = kernel_size if tied else factor * kernel_size
    basis = torch.zeros(free, length, dtype=torch.float64)
    for j in range(kernel_size):
        for r in range(factor):
            basis[j if tied else r * kernel_size + j, r + factor * (kernel_size - 1 - j)] = 1.0
    return basis, start


class SubpixelConv1d(Upsampler):
    """Convolution at the input rate to ``factor * out_channels`` channels, then periodic shuffle.

    Args:
        in_channels, out_channels: channel counts.
        factor: integer upsampling factor >= 1.
        kernel_size: the low-rate convolution's length (default 3).
        bias: add a learnable bias.
        icnr: initialise with ICNR, so that at initialisation it equals a
            low-rate convolution followed by nearest upsampling.
        pad_mode: ``"replicate"`` (default), ``"reflect"`` or ``"zeros"``.

    Shape:
        Input: ``(B, in_channels, T)``. Output: ``(B, out_channels, factor * T)``.
        The convolution's channel ``o * factor + r`` becomes phase ``r`` of output
        channel ``o``.
    """

    def __init__(self, in_channels: int, out_channels: int, factor: int, kernel_size: int = 3,
                 bias: bool = True, icnr: bool = False, pad_mode: str = "replicate"):
        super().__init__()
        check_args(in_channels, out_channels, factor, kernel_size)
        self.in_channels, self.out_channels, self.factor = in_channels, out_channels, factor
        self.kernel_size, self.icnr, self.pad_mode = kernel_size, icnr, check_pad_mode(pad_mode)
        self.pad_left, self.pad_right = same_padding(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels * factor, in_channels, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels * factor)) if bias else None
        if icnr:
            icnr_(self.weight.data, None if self.bias is None else self.bias.data, factor)
        else:
            init_conv_(self.weight, self.bias, in_channels * kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv1d(pad1d(x, self.pad_left, self.pad_right, self.pad_mode), self.weight, self.bias)
        return interleave(y, self.factor)

    @torch.no_grad()
    def init_normal_(self, std: float) -> None:
        """N(0, std) weights; with ICNR every output channel's phases share one kernel."""
        self.weight.normal_(0.0, std)
        if self.icnr:
            w = self.weight.view(-1, self.factor, *self.weight.shape[1:])
            w.copy_(w[:, :1].expand_as(w))

    def macs_per_input_sample(self) -> int:
        """A ``kernel_size``-tap convolution per input sample to ``factor * out_channels`` channels."""
        return self.in_channels * self.out_channels * self.factor * self.kernel_size

    def folded_kernel(self) -> Optional[Tuple[Tensor, int]]:
        """Weight ``j`` of phase ``r`` (channel ``o * factor + r``) is tap ``r + factor * (kernel_size - 1 - j)``;
        ``start = factor * (kernel_size - 1 - pad_left)``."""
        f, k = self.factor, self.kernel_size
        w = self.weight.reshape(self.out_channels, f, self.in_channels, k).flip(-1)  # (o, r, i, k - 1 - j)
        kernel = w.permute(2, 0, 3, 1).reshape(self.in_channels, self.out_channels, k * f)
        return kernel, f * (k - 1 - self.pad_left)

    def folded_basis(self) -> Optional[Tuple[Tensor, int]]:
        """:func:`subpixel_basis`, tied (one kernel for all phases) for an ICNR layer: projecting onto
        it keeps the layer line-free."""
        return subpixel_basis(self.factor, self.kernel_size, self.pad_left, tied=self.icnr)

    def weight_from_free(self, free: Tensor) -> Tensor:
        """``(C_out * factor, C_in, k)``: channel ``o * factor + r`` is phase ``r``."""
        c_in, c_out, f, k = free.shape[0], free.shape[1], self.factor, self.kernel_size
        free = free.unsqueeze(2).expand(c_in, c_out, f, k) if self.icnr else free.reshape(c_in, c_out, f, k)
        return free.permute(1, 2, 0, 3).reshape(c_out * f, c_in, k)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, factor={self.factor}, kernel_size={self.kernel_size}, "
                f"icnr={self.icnr}, pad_mode={self.pad_mode}, bias={self.bias is not None}")
