"""Transposed convolution with an exact ``factor * T`` output length."""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Upsampler, check_args


def transposed_padding(factor: int, kernel_size: int):
    """``(padding, output_padding, trim)`` giving exactly ``factor * T`` samples.

    The output of ``ConvTranspose1d`` is ``(T - 1) * s - 2p + k + op``. Setting
    ``2p - op = k - s`` needs ``op = 1`` when ``k - s`` is odd (HiFi-GAN's
    ``p = (k - s) // 2`` is one sample long there). PyTorch requires
    ``op < s``; for ``s = 1`` the extra sample is trimmed instead.
    """
    excess = kernel_size - factor
    padding = (excess + 1) // 2
    output_padding = 2 * padding - excess
    trim = 0
    if output_padding >= factor:
        padding, output_padding, trim = excess // 2, 0, 1
    return padding, output_padding, trim


class TransposedConv1d(Upsampler, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` with stride ``factor`` whose output is exactly ``factor * T``.

    The reference kind (:attr:`~.base.Upsampler.REFERENCE`).

    Args:
        in_channels, out_channels: channel counts.
        factor: stride, integer >= 1.
        kernel_size: default ``2 * factor`` (HiFi-GAN's choice); at least ``factor``
            (shorter kernels leave structural zeros between outputs).
        bias: add a learnable bias.

    Shape:
        Input: ``(B, in_channels, T)``. Output: ``(B, out_channels, factor * T)``.

    >>> import torch
    >>> TransposedConv1d(4, 2, factor=5, kernel_size=11)(torch.zeros(1, 4, 7)).shape
    torch.Size([1, 2, 35])
    """

    REFERENCE = True

    def __init__(self, in_channels: int, out_channels: int, factor: int,
                 kernel_size: Optional[int] = None, bias: bool = True):
        kernel_size = 2 * factor if kernel_size is None else kernel_size
        check_args(in_channels, out_channels, factor, kernel_size, min_kernel=factor)
        padding, output_padding, trim = transposed_padding(factor, kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, stride=factor, padding=padding,
                         output_padding=output_padding, bias=bias)
        self.kernel_size = kernel_size  # an int like every upsampler's (torch keeps a 1-tuple)
        self.factor = factor
        self.trim = trim

    def forward(self, x: Tensor, output_size: Optional[List[int]] = None) -> Tensor:
        y = F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                               self.output_padding, self.groups, self.dilation)
        if self.trim > 0:
            y = y[:, :, :y.shape[-1] - self.trim]
        return y

    def macs_per_input_sample(self) -> int:
        """Every input sample meets the whole kernel once per channel pair."""
        return self.in_channels * self.out_channels * self.kernel_size

    def folded_kernel(self) -> Optional[Tuple[Tensor, int]]:
        """The layer's own weight ``(in, out, kernel_size)``; tap ``t`` sits ``t - padding`` after ``factor * n``."""
        return self.weight, int(self.padding[0])

    def folded_basis(self) -> Optional[Tuple[Tensor, int]]:
        """Every tap is a free weight: the identity."""
        return torch.eye(self.kernel_size, dtype=torch.float64), int(self.padding[0])

    def weight_from_free(self, free: Tensor) -> Tensor:
        return free

    def extra_repr(self) -> str:
        return super().extra_repr() + f", factor={self.factor}"
