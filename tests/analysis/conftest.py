"""Small models for the analysis tests: a HiFi-GAN-like stack and toy discriminators (as fixtures)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audioup.layers import build_upsampler


class PlantedPeriodic(nn.Module):
    """An upsampler plus a fixed zero-mean pattern of period ``factor``: lines at multiples of its input rate."""

    def __init__(self, inner: nn.Module, amplitude: float, seed: int = 1):
        super().__init__()
        self.inner, self.factor = inner, inner.factor
        gen = torch.Generator().manual_seed(seed)
        pattern = torch.randn(inner.out_channels, self.factor, generator=gen)
        self.register_buffer("pattern", amplitude * (pattern - pattern.mean(dim=1, keepdim=True)))

    def forward(self, x):
        return self.inner(x) + self.pattern.repeat(1, x.shape[-1])


class TinyGenerator(nn.Module):
    """mel -> waveform: conv, then (LeakyReLU, upsampler, residual conv) per factor, conv, tanh."""

    def __init__(self, n_mels: int = 8, factors=(4, 4, 2), channels: int = 16, kind="resize",
                 plant=None, amplitude: float = 0.05):
        super().__init__()
        self.pre = nn.Conv1d(n_mels, channels, 7, padding=3)
        ups, res = [], []
        c = channels
        for i, f in enumerate(factors):
            up = build_upsampler(kind, c, c // 2, f)
            if plant == i:
                up = PlantedPeriodic(up, amplitude)
            ups.append(up)
            res.append(nn.Conv1d(c // 2, c // 2, 3, padding=1))
            c //= 2
        self.stack = nn.ModuleList(ups)  # not named `upsamplers`: found through `.factor`
        self.res = nn.ModuleList(res)
        self.post = nn.Conv1d(c, 1, 7, padding=3)

    def forward(self, mel):
        x = self.pre(mel)
        for up, res in zip(self.stack, self.res):
            x = up(F.leaky_relu(x, 0.1))
            x = x + res(F.leaky_relu(x, 0.1))
        return torch.tanh(self.post(x))


def smooth_mel(n_mels: int = 8, frames: int = 96, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, n_mels, frames, generator=gen).cumsum(-1) / 5


def toy_discriminator(stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv1d(1, 16, 15, stride=stride, padding=7), nn.LeakyReLU(0.1),
                         nn.Conv1d(16, 16, 5, padding=2), nn.LeakyReLU(0.1), nn.Conv1d(16, 1, 3, padding=1))


@pytest.fixture
def tiny_generator():
    """Factory: ``tiny_generator(plant=None, kind="resize", seed=0)`` -> :class:`TinyGenerator`."""
    def make(plant=None, kind="resize", seed=0, **kwargs):
        torch.manual_seed(seed)
        return TinyGenerator(plant=plant, kind=kind, **kwargs)
    return make


@pytest.fixture
def mel_input():
    return smooth_mel()


@pytest.fixture
def discriminator():
    """Factory: ``discriminator(stride, seed=0)`` -> a small strided (or not) 1D discriminator."""
    def make(stride, seed=0):
        torch.manual_seed(seed)
        return toy_discriminator(stride)
    return make
