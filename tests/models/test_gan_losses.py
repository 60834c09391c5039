"""Losses: least-squares GAN, feature matching, mel L1, multi-resolution STFT."""
from __future__ import annotations

import math

import pytest
import torch

from audioup.models import MultiPeriodDiscriminator
from audioup.models.losses import (
    MultiResolutionSTFTLoss, discriminator_loss, feature_matching_loss, generator_adversarial_loss, mel_l1_loss,
    multi_resolution_stft_loss,
)


def logits(values, n=3):
    return [torch.full((2, 7 + i), float(v)) for i, v in zip(range(n), values)]


def test_lsgan_discriminator_loss():
    assert float(discriminator_loss(logits([1, 1, 1]), logits([0, 0, 0]))) == 0.0
    # Fully wrong: (1 - 0)^2 + 1^2 = 2 per sub-discriminator, summed.
    assert float(discriminator_loss(logits([0, 0, 0]), logits([1, 1, 1]))) == pytest.approx(6.0)
    assert float(discriminator_loss(logits([0.5] * 3), logits([0.5] * 3))) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="3 real entries but 2 fake"):
        discriminator_loss(logits([1, 1, 1]), logits([0, 0], n=2))


def test_lsgan_generator_loss():
    assert float(generator_adversarial_loss(logits([1, 1, 1]))) == 0.0
    assert float(generator_adversarial_loss(logits([0, 0, 0]))) == pytest.approx(3.0)
    fake = [t.requires_grad_() for t in logits([0.2, 0.4, 0.6])]
    generator_adversarial_loss(fake).backward()
    assert all((t.grad < 0).all() for t in fake)  # pushes fake logits up towards 1


def test_feature_matching_zero_for_identical_and_detaches_real():
    d = MultiPeriodDiscriminator(channels=(4, 8, 8, 8, 8))
    wav = torch.randn(2, 1, 999, requires_grad=True)
    _, real = d(wav)
    _, same = d(wav.detach().clone())
    assert float(feature_matching_loss(real, same).detach()) == 0.0
    fake_wav = (wav.detach() + 0.1 * torch.randn_like(wav)).requires_grad_()
    _, fake = d(fake_wav)
    loss = feature_matching_loss(real, fake)
    assert loss.item() > 0
    loss.backward()
    assert fake_wav.grad.abs().sum() > 0
    assert wav.grad is None  # real features are targets, not trained through


def test_feature_matching_value():
    real = [[torch.zeros(2, 3), torch.zeros(4)]]
    fake = [[torch.full((2, 3), 0.5), torch.full((4,), -2.0)]]
    assert float(feature_matching_loss(real, fake)) == pytest.approx(2.5)


def test_mel_l1():
    a = torch.randn(2, 80, 10)
    assert float(mel_l1_loss(a, a)) == 0.0
    assert float(mel_l1_loss(a + 0.5, a)) == pytest.approx(0.5)
    assert float(mel_l1_loss(a[..., :9] + 1, a)) == pytest.approx(1.0)  # extra frame cut


def test_mrstft_zero_for_identical_positive_and_growing_otherwise():
    t = torch.arange(8192) / 22050
    real = (0.5 * torch.sin(2 * math.pi * 440 * t)).view(1, 1, -1)
    loss = MultiResolutionSTFTLoss()
    assert float(loss(real, real.clone())) == pytest.approx(0.0, abs=1e-6)
    small = float(loss(real + 0.001 * torch.randn_like(real), real))
    large = float(loss(real + 0.1 * torch.randn_like(real), real))
    assert 0 < small < large
    torch.testing.assert_close(multi_resolution_stft_loss(real + 0.1, real), loss(real + 0.1, real))
    with pytest.raises(ValueError, match="shapes differ"):
        loss(real[..., :100], real)
    with pytest.raises(ValueError, match="bad STFT resolution"):
        MultiResolutionSTFTLoss([(256, 64, 512)])


def test_mrstft_gradient():
    real = torch.randn(2, 4096)
    fake = (real + 0.1 * torch.randn_like(real)).requires_grad_()
    MultiResolutionSTFTLoss()(fake, real).backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
