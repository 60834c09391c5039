"""Discriminators: per-sub-discriminator outputs, paper sizes, gradients to the waveform, errors."""
from __future__ import annotations

import pytest
import torch

from audioup.models import (
    CombinedDiscriminator, MultiPeriodDiscriminator, MultiResolutionDiscriminator, MultiScaleDiscriminator,
    build_discriminators,
)
from audioup.models.discriminators import ScaleDiscriminator

SMALL = (4, 8, 16, 16, 16)


def small_mpd():
    return MultiPeriodDiscriminator(channels=SMALL)


def test_mpd_one_entry_per_period_any_length():
    d = small_mpd()
    assert d.periods == (2, 3, 5, 7, 11)
    wav = torch.randn(2, 1, 1001)  # not a multiple of any period
    logits, features = d(wav)
    assert len(logits) == len(features) == 5
    for p, out, feats in zip(d.periods, logits, features):
        assert out.dim() == 2 and out.shape[0] == 2
        assert len(feats) == 6 and feats[0].shape[-1] == p  # folded (B, C, T / p, p)


def test_msd_three_scales_average_pooled():
    d = MultiScaleDiscriminator(width=1 / 8)
    logits, features = d(torch.randn(2, 1, 1024))
    assert len(logits) == len(features) == 3
    assert all(len(f) == 8 for f in features)
    lengths = [f[0].shape[-1] for f in features]  # first conv keeps the length of its scale
    assert lengths == [1024, 513, 257]


def test_mrd_univnet_resolutions():
    d = MultiResolutionDiscriminator(channels=8)
    assert d.resolutions == ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
    logits, features = d(torch.randn(2, 1, 4800))
    assert len(logits) == 3
    for (n_fft, hop, _), feats in zip(d.resolutions, features):
        assert feats[0].shape[-2:] == (n_fft // 2 + 1, 4800 // hop)


def test_paper_sizes():
    # HiFi-GAN's MPD and MSD: 41.1M and 29.6M parameters (weight-norm gains included).
    assert abs(sum(p.numel() for p in MultiPeriodDiscriminator().parameters()) - 41.1e6) < 0.1e6
    assert abs(sum(p.numel() for p in MultiScaleDiscriminator().parameters()) - 29.6e6) < 0.1e6


@pytest.mark.parametrize("make", [small_mpd, lambda: MultiScaleDiscriminator(width=1 / 8),
                                  lambda: MultiResolutionDiscriminator(channels=8)])
def test_gradient_reaches_waveform_and_batch_is_independent(make):
    d = make()
    wav = torch.randn(3, 1, 2048, requires_grad=True)
    logits, features = d(wav)
    sum(o.sum() for o in logits).backward()
    assert wav.grad.abs().sum() > 0
    d.eval()
    with torch.no_grad():
        single = d(wav[1:2].detach())[0]
        batched = d(wav.detach())[0]
    for s, b in zip(single, batched):
        torch.testing.assert_close(b[1:2], s, atol=1e-5, rtol=1e-4)


def test_first_scale_uses_spectral_norm():
    d = MultiScaleDiscriminator(width=1 / 8)
    first = d.discriminators[0].convs[0].parametrizations.weight[0]
    later = d.discriminators[1].convs[0].parametrizations.weight[0]
    assert type(first).__name__ == "_SpectralNorm" and type(later).__name__ == "_WeightNorm"
    assert isinstance(d.discriminators[0], ScaleDiscriminator)


def test_combined_and_build():
    ds = build_discriminators(["mpd", "mrd"])
    assert list(ds.keys()) == ["mpd", "mrd"]
    combined = CombinedDiscriminator(discriminators={"mpd": small_mpd(), "mrd": MultiResolutionDiscriminator(channels=4)})
    logits, features = combined(torch.randn(1, 1, 2400))
    assert len(logits) == len(features) == 8
    with pytest.raises(ValueError, match="unknown discriminator"):
        build_discriminators(["mpd", "xyz"])


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"MultiPeriodDiscriminator expects a waveform of shape \(B, 1, T\)"):
        small_mpd()(torch.randn(2, 1000))


def test_mrd_spectrogram_frames_like_the_mel():
    """The resolution sub-discriminator frames its STFT as the mel front end does: T // hop frames."""
    from audioup.models.discriminators import ResolutionDiscriminator

    wav = torch.randn(2, 1, 255 * 12)
    for n_fft, hop, win in ((1024, 120, 600), (1024, 255, 1024)):  # n_fft - hop even and odd
        spec = ResolutionDiscriminator(n_fft, hop, win, channels=4).spectrogram(wav)
        assert spec.shape == (2, 1, n_fft // 2 + 1, wav.shape[-1] // hop)
