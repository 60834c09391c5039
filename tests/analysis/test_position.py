"""Within-frame position codes: the fixed per-phase pattern of an upsampler's output."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from audioup.analysis.position import fixed_pattern_share, position_code_shares
from audioup.layers import build_upsampler


def test_share_of_a_known_pattern_in_noise():
    """A period-4 pattern of energy 1 per sample under unit noise (and a per-channel offset,
    which is a bias and not counted): the share is pattern / (pattern + noise + offset)."""
    gen = torch.Generator().manual_seed(0)
    pattern = torch.tensor([1.0, -1.0, 1.0, -1.0]) * 1.0  # power 1, mean 0
    n = 4 * 20000
    x = pattern.repeat(n // 4) + torch.randn(n, generator=gen) + 0.5  # offset power 0.25
    share = fixed_pattern_share([x.view(1, 1, -1)], 4)
    assert share == pytest.approx(1.0 / (1.0 + 1.0 + 0.25), rel=0.02)
    # split over several outputs, the pattern is measured over all of them at once
    assert fixed_pattern_share([x[: n // 2].view(1, 1, -1), x[n // 2:].view(1, 1, -1)], 4) == \
        pytest.approx(share, rel=1e-9)
    assert fixed_pattern_share([torch.zeros(1, 1, 8)], 4) == 0.0


def _slow_input(channels=4, frames=400, seed=1):
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(frames, dtype=torch.float64)
    slow = torch.stack([torch.sin(2 * math.pi * t / (40 + 7 * c) + c) for c in range(channels)])
    return (slow + 0.5 + 0.05 * torch.randn(channels, frames, generator=gen, dtype=torch.float64)).float()[None]


def test_transposed_layer_carries_a_code_resize_does_not():
    """Driven by a slowly varying input, a transposed layer with unequal phase gains puts a large
    share of its output in the fixed pattern; resize-nearest and resize-linear put almost none."""
    torch.manual_seed(0)
    x = _slow_input()
    transposed = build_upsampler("transposed", 4, 4, 8)
    nearest = build_upsampler("resize-nearest", 4, 4, 8)
    linear = build_upsampler("resize-linear", 4, 4, 8)
    with torch.no_grad():
        shares = {name: fixed_pattern_share([layer(x)], 8)
                  for name, layer in (("transposed", transposed), ("nearest", nearest), ("linear", linear))}
    assert shares["transposed"] > 0.05
    assert shares["nearest"] < 1e-3 and shares["linear"] < 1e-3


def test_model_shares_follow_each_upsampler():
    """position_code_shares hooks every upsampler in order: the values equal the share of each
    layer's own output, and the model's output is not changed by the hooks."""
    torch.manual_seed(0)

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.upsamplers = nn.ModuleList([build_upsampler("transposed", 4, 4, 4),
                                             build_upsampler("resize-nearest", 4, 4, 2)])

        def forward(self, x):
            return self.upsamplers[1](torch.tanh(self.upsamplers[0](x)))

    model, x = Two().eval(), _slow_input(frames=300)
    with torch.no_grad():
        before = model(x)
        first = model.upsamplers[0](x)
        second = model.upsamplers[1](torch.tanh(first))
    shares = position_code_shares(model, [x])
    assert shares == [pytest.approx(fixed_pattern_share([first], 4), rel=1e-9),
                      pytest.approx(fixed_pattern_share([second], 2), rel=1e-9)]
    assert shares[0] > 10 * shares[1]
    with torch.no_grad():
        assert torch.equal(model(x), before) and not model.upsamplers[0]._forward_hooks
