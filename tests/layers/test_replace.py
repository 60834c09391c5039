"""replace_upsamplers on HiFi-GAN-like models with weight-normed transposed convolutions."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from audioup.layers import MatchLength, ResizeConv1d, replace_upsamplers

KINDS = ["transposed", "resize-nearest", "resize-linear", "subpixel-icnr", "sinc"]


class TinyHiFiGAN(nn.Module):
    """The shape of HiFi-GAN's generator: conv_pre, (leaky ReLU, upsample, conv) x n, conv_post."""

    def __init__(self, factors, kernels, channels=32, n_mels=8, old_style_weight_norm=False):
        super().__init__()
        wn = torch.nn.utils.weight_norm if old_style_weight_norm else parametrizations.weight_norm
        self.conv_pre = nn.Conv1d(n_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.convs = nn.ModuleList()
        ch = channels
        for u, k in zip(factors, kernels):
            # HiFi-GAN's own padding, (k - u) // 2: one sample long when k - u is odd.
            self.ups.append(wn(nn.ConvTranspose1d(ch, ch // 2, k, u, padding=(k - u) // 2)))
            self.convs.append(nn.Conv1d(ch // 2, ch // 2, 3, padding=1))
            ch //= 2
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3)

    def forward(self, x):
        x = self.conv_pre(x)
        for up, conv in zip(self.ups, self.convs):
            x = conv(up(torch.nn.functional.leaky_relu(x, 0.1)))
        return torch.tanh(self.conv_post(x))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("factors,kernels,old_style", [
    ((8, 8, 2, 2), (16, 16, 4, 4), False),
    ((5, 5, 4, 2), (10, 10, 8, 4), False),
    ((5, 5, 4, 2), (10, 10, 8, 4), True),  # hook-based torch.nn.utils.weight_norm
])
def test_replace_keeps_shapes_and_reports_every_swap(kind, factors, kernels, old_style):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm is deprecated
        model = TinyHiFiGAN(factors, kernels, old_style_weight_norm=old_style)
    mel = torch.randn(2, 8, 5)
    before = model(mel).shape
    report = replace_upsamplers(model, kind)
    assert [r.name for r in report] == [f"ups.{i}" for i in range(len(factors))]
    assert all(r.weight_norm for r in report)
    assert not any(isinstance(m, nn.ConvTranspose1d) and not kind == "transposed" for m in model.modules())
    after = model(mel)
    assert after.shape == before
    after.sum().backward()  # the new layers train
    # k - u odd made HiFi-GAN's layers one sample long; the replacements keep that length.
    offsets = [r.length_offset for r in report]
    assert offsets == [(k - u) % 2 for u, k in zip(factors, kernels)]
    assert all(isinstance(model.ups[i], MatchLength) == (offsets[i] != 0) for i in range(len(factors)))


def test_replace_passes_options_and_keeps_channels():
    model = TinyHiFiGAN((4, 2), (8, 4))
    replace_upsamplers(model, "resize", mode="linear", kernel_size=5)
    first = model.ups[0]
    assert isinstance(first, ResizeConv1d) and first.mode == "linear" and first.kernel_size == 5
    assert (first.in_channels, first.out_channels, first.factor) == (32, 16, 4)


def test_replace_refuses_grouped_transposed_conv():
    model = nn.Sequential(nn.ConvTranspose1d(4, 4, 4, 2, padding=1, groups=2))
    with pytest.raises(ValueError, match="grouped"):
        replace_upsamplers(model, "resize")
