"""Snake activations and the anti-aliased 2x activation: formulas, constants, band limits, aliasing."""
from __future__ import annotations

import math

import pytest
import torch

from audioup.models.activations import (
    AntiAliasedActivation, DownSample2x, Snake, SnakeBeta, UpSample2x, make_activation, snake, snake_beta,
)


def test_snake_formula_and_snakebeta_reduces_to_it():
    x = torch.linspace(-4, 4, 101).view(1, 1, -1)
    alpha = torch.tensor(1.7)
    torch.testing.assert_close(snake(x, alpha), x + torch.sin(alpha * x) ** 2 / alpha)
    torch.testing.assert_close(snake_beta(x, alpha, alpha), snake(x, alpha))
    # Initialised at alpha = beta = 1: the two modules agree.
    torch.testing.assert_close(SnakeBeta(1)(x), Snake(1)(x))
    # snake(0) = 0 with slope 1.
    z = torch.zeros(1, 1, 1, requires_grad=True)
    Snake(1)(z).sum().backward()
    assert float(z.grad) == 1.0


def test_resamplers_keep_constants_and_lengths():
    x = torch.full((2, 3, 17), 0.7)
    torch.testing.assert_close(UpSample2x()(x), torch.full((2, 3, 34), 0.7), atol=1e-6, rtol=0)
    torch.testing.assert_close(DownSample2x()(torch.full((2, 3, 34), 0.7)), torch.full((2, 3, 17), 0.7),
                               atol=1e-6, rtol=0)
    assert DownSample2x()(torch.zeros(1, 1, 35)).shape[-1] == 18


def test_upsample_interpolates_a_slow_sine():
    n = 200
    t = torch.arange(n, dtype=torch.float64)
    f = 0.05  # cycles per input sample, far below the cutoff
    x = torch.sin(2 * math.pi * f * t).float().view(1, 1, -1)
    y = UpSample2x()(x)[0, 0]
    # Output sample 2m + r sits at input time m + (2r - 1) / 4 for an even-length filter.
    t2 = torch.arange(2 * n, dtype=torch.float64) / 2 - 0.25
    ref = torch.sin(2 * math.pi * f * t2).float()
    assert (y - ref)[20:-20].abs().max() < 0.02


def _peak(y: torch.Tensor, freq: float) -> float:
    y = y[100:-100].double()
    spec = torch.fft.rfft(y * torch.hann_window(len(y), dtype=torch.float64)).abs()
    b = int(round(freq * len(y)))
    return float(spec[b - 2:b + 3].max())


def test_anti_aliased_activation_removes_folded_harmonics():
    n, f0 = 2000, 0.16
    x = (2 * torch.sin(2 * math.pi * f0 * torch.arange(n, dtype=torch.float64))).float().view(1, 1, -1)
    act = SnakeBeta(1)
    with torch.no_grad():
        plain, aa = act(x)[0, 0], AntiAliasedActivation(act)(x)[0, 0]
    # 2nd harmonic (0.32) is below Nyquist and stays; the 4th (0.64 -> 0.36) and 6th
    # (0.96 -> 0.04) fold back without anti-aliasing.
    assert _peak(aa, 0.32) > 0.7 * _peak(plain, 0.32)
    assert _peak(aa, 0.36) < 10 ** (-10 / 20) * _peak(plain, 0.36)
    assert _peak(aa, 0.04) < 10 ** (-20 / 20) * _peak(plain, 0.04)


def test_make_activation_names():
    assert isinstance(make_activation("snake-beta", 4), AntiAliasedActivation)
    assert isinstance(make_activation("snake", 4, anti_alias=False), Snake)
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        make_activation("relu", 4)
