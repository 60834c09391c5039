"""HiFi-GAN's residual blocks and the weight-norm helpers every generator uses.

- :class:`ResBlock1`: per dilation, LeakyReLU -> dilated conv -> LeakyReLU -> conv, plus a skip
  (HiFi-GAN V1/V2).
- :class:`ResBlock2`: per dilation, LeakyReLU -> dilated conv, plus a skip (HiFi-GAN V3).
- :class:`MRF`: multi-receptive-field fusion, the mean of several blocks with different
  kernel sizes and dilations applied to the same input.
- :func:`weight_norm_conv`, :func:`remove_weight_norm_`: weight normalisation through
  ``torch.nn.utils.parametrizations`` and its removal for inference.

The sums are taken in place into a tensor that nothing else holds (a convolution's fresh
output, which autograd does not save): each out-of-place ``a + b`` of a ``(B, C, T)``
activation allocates a new buffer (on CPU, fresh pages that fault in when first written).
The values are bit-identical to the out-of-place sums (addition commutes exactly) and so
are the gradients (an add's backward needs neither operand); ResBlock1's inner LeakyReLU runs
in place on its convolution's output too. :func:`add_into` falls back to
``y + x`` when the sum would need a wider dtype than ``y``'s (mixed precision).
"""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..layers.base import weight_norm

LRELU_SLOPE = 0.1
INIT_STD = 0.01


def add_into(y: Tensor, x: Tensor) -> Tensor:
    """``y + x``, written into ``y`` when it has the sum's dtype (else out of place, as autocast may
    give an fp32 ``x`` and a half-precision ``y``). ``y`` must be a fresh tensor autograd did not
    save, such as a convolution's output."""
    return y.add_(x) if y.dtype == x.dtype else y + x


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps a stride-1 convolution's length (odd kernels)."""
    return (kernel_size * dilation - dilation) // 2


def init_normal_(module: nn.Module, std: float = INIT_STD) -> None:
    """HiFi-GAN's initialisation: weights ~ N(0, std); biases untouched. Call before weight norm."""
    nn.init.normal_(module.weight, 0.0, std)


def weight_norm_conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                     init: bool = True, bias: bool = True) -> nn.Module:
    """A length-preserving ``Conv1d`` (odd kernel), optionally N(0, 0.01)-initialised, with weight norm."""
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                     padding=same_padding(kernel_size, dilation), bias=bias)
    if init:
        init_normal_(conv)
    return weight_norm(conv)


def remove_weight_norm_(module: nn.Module) -> int:
    """Fold every weight-norm parametrisation under ``module`` into a plain weight, in place.

    Returns the number of layers changed. Outputs stay the same to float precision;
    inference gets faster because ``g * v / ||v||`` is no longer recomputed per call.
    """
    count = 0
    for sub in module.modules():
        if parametrize.is_parametrized(sub, "weight"):
            parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
            count += 1
    return count


class ResBlock1(nn.Module):
    """HiFi-GAN's ResBlock1: for each dilation ``d``, ``x += conv_1(lrelu(conv_d(lrelu(x))))``.

    Args:
        channels: channels in and out.
        kernel_size: odd kernel length of every convolution.
        dilations: dilation of the first convolution of each pair (the second has 1).

    Shape:
        Input: ``(B, channels, T)``. Output: ``(B, channels, T)``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList(weight_norm_conv(channels, channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(weight_norm_conv(channels, channels, kernel_size, 1) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            # the inner activation runs in place on the convolution's fresh output, which nothing
            # else holds (a convolution's backward needs its input, not its output)
            xt = F.leaky_relu_(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE)
            x = add_into(c2(xt), x)
        return x


class ResBlock2(nn.Module):
    """HiFi-GAN's ResBlock2: for each dilation ``d``, ``x += conv_d(lrelu(x))``.

    Args:
        channels: channels in and out.
        kernel_size: odd kernel length.
        dilations: one convolution per dilation.

    Shape:
        Input: ``(B, channels, T)``. Output: ``(B, channels, T)``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3)):
        super().__init__()
        self.convs = nn.ModuleList(weight_norm_conv(channels, channels, kernel_size, d) for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = add_into(conv(F.leaky_relu(x, LRELU_SLOPE)), x)
        return x


RESBLOCKS = {"1": ResBlock1, "2": ResBlock2}


class MRF(nn.Module):
    """Multi-receptive-field fusion: the mean of ``blocks`` applied to the same input.

    The sum accumulates in place into the first block's output, so a block must return a
    tensor that autograd did not save (the residual blocks here end in an add); a block that
    returns its input unchanged (an identity) gets a copy, so the input is never written.

    Shape:
        Input: ``(B, C, T)``. Output: ``(B, C, T)``.
    """

    def __init__(self, blocks: Sequence[nn.Module]):
        super().__init__()
        if len(blocks) == 0:
            raise ValueError("MRF needs at least one residual block")
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        out = self.blocks[0](x)
        if out is x:
            out = out.clone()
        for block in self.blocks[1:]:
            out = add_into(out, block(x))
        return out.div_(len(self.blocks))
