"""Periodic activations and their anti-aliased form (BigVGAN, Lee et al., ICLR 2023).

- :func:`snake` / :class:`Snake`: ``x + sin^2(alpha x) / alpha`` (Ziyin et al., 2020), one
  ``alpha`` per channel.
- :func:`snake_beta` / :class:`SnakeBeta`: ``x + sin^2(alpha x) / beta`` with separate
  frequency and magnitude per channel.
- :class:`UpSample2x` / :class:`DownSample2x`: zero-stuffing plus a Kaiser-windowed sinc
  low-pass (from :func:`audioup.layers.kaiser_sinc_filter`), and low-pass plus decimation.
- :class:`AntiAliasedActivation`: upsample 2x, apply the activation, low-pass and decimate,
  so the harmonics the nonlinearity creates above the input's Nyquist are filtered out
  instead of folding back as aliases.

Parameters are stored as logarithms (``alpha = exp(log_alpha)``), initialised to 0 (alpha 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import kaiser_sinc_filter

EPS = 1e-9


def snake(x: Tensor, alpha: Tensor) -> Tensor:
    """``x + sin^2(alpha x) / alpha``; ``alpha`` broadcasts against ``x`` (e.g. ``(1, C, 1)``)."""
    return x + torch.sin(alpha * x).pow(2) / (alpha + EPS)


def snake_beta(x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """``x + sin^2(alpha x) / beta``; ``alpha`` and ``beta`` broadcast against ``x``."""
    return x + torch.sin(alpha * x).pow(2) / (beta + EPS)


class Snake(nn.Module):
    """Snake with a learnable per-channel frequency (log-parametrised).

    Shape:
        Input: ``(B, channels, T)``. Output: same.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return snake(x, self.log_alpha.exp()[None, :, None])


class SnakeBeta(nn.Module):
    """SnakeBeta with learnable per-channel frequency and magnitude (log-parametrised).

    Shape:
        Input: ``(B, channels, T)``. Output: same.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(channels))
        self.log_beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return snake_beta(x, self.log_alpha.exp()[None, :, None], self.log_beta.exp()[None, :, None])


ACTIVATIONS = {"snake": Snake, "snakebeta": SnakeBeta}


def lowpass_2x(kernel_size: int = 12) -> Tensor:
    """The half-band filter of the 2x resamplers: cutoff 0.25, transition half-width 0.3 (cycles/sample)."""
    return kaiser_sinc_filter(0.25, 0.3, kernel_size)


class UpSample2x(nn.Module):
    """Band-limited 2x upsampling of every channel: zero-stuff, then the low-pass (gain 2).

    Edges are extended by replication at the low rate first, so a constant stays constant.

    Shape:
        Input: ``(B, C, T)``. Output: ``(B, C, 2 * T)``.
    """

    def __init__(self, kernel_size: int = 12):
        super().__init__()
        if kernel_size % 2:
            raise ValueError(f"kernel_size must be even, got {kernel_size}")
        # The low-pass with the zero-stuffing's gain of 2 folded in.
        self.register_buffer("filter", 2.0 * lowpass_2x(kernel_size).view(1, 1, -1), persistent=False)
        self.pad = kernel_size // 2 - 1
        # The transposed convolution of the padded input is 2 * (T + 2 * pad - 1) + K long;
        # trimming this much each side leaves exactly 2 * T samples, centred.
        self.trim = (2 * (2 * self.pad - 1) + kernel_size) // 2

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        y = F.conv_transpose1d(x, self.filter.to(x.dtype).expand(channels, 1, -1), stride=2, groups=channels)
        return y[..., self.trim:y.shape[-1] - self.trim]


class DownSample2x(nn.Module):
    """Low-pass every channel, then keep every second sample (replicate-padded edges).

    Shape:
        Input: ``(B, C, T)``. Output: ``(B, C, ceil(T / 2))``.
    """

    def __init__(self, kernel_size: int = 12):
        super().__init__()
        if kernel_size % 2:
            raise ValueError(f"kernel_size must be even, got {kernel_size}")
        self.register_buffer("filter", lowpass_2x(kernel_size).view(1, 1, -1), persistent=False)
        self.pad_left, self.pad_right = kernel_size // 2 - 1, kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.to(x.dtype).expand(channels, 1, -1), stride=2, groups=channels)


class AntiAliasedActivation(nn.Module):
    """Apply ``activation`` at twice the rate: :class:`UpSample2x`, activation, :class:`DownSample2x`.

    Args:
        activation: a module mapping ``(B, C, 2T)`` to the same shape (e.g. :class:`SnakeBeta`).
        kernel_size: length of the 2x low-pass filters (even).

    Shape:
        Input: ``(B, C, T)``. Output: ``(B, C, T)``.
    """

    def __init__(self, activation: nn.Module, kernel_size: int = 12):
        super().__init__()
        self.up = UpSample2x(kernel_size)
        self.act = activation
        self.down = DownSample2x(kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.act(self.up(x)))


def make_activation(name: str, channels: int, anti_alias: bool = True) -> nn.Module:
    """``"snake"`` or ``"snakebeta"`` for ``channels``, wrapped in :class:`AntiAliasedActivation` by default."""
    key = str(name).lower().replace("_", "").replace("-", "")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    act = ACTIVATIONS[key](channels)
    return AntiAliasedActivation(act) if anti_alias else act
