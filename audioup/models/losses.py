"""Vocoder losses: least-squares GAN, feature matching, mel L1, multi-resolution STFT.

HiFi-GAN's generator objective is ``adv + 2 * fm + 45 * mel``
(:data:`FEATURE_MATCHING_WEIGHT`, :data:`MEL_WEIGHT`); the functions here return the
unweighted terms and the caller applies the weights. The GAN terms take the lists that
every discriminator in :mod:`.discriminators` returns and sum over sub-discriminators
(a mean over each tensor's elements, then a sum), as in HiFi-GAN.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..audio.stft import STFT_RESOLUTIONS, stft_magnitude

FEATURE_MATCHING_WEIGHT = 2.0
MEL_WEIGHT = 45.0


def _check_pairs(a: Sequence, b: Sequence, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} real entries but {len(b)} fake ones")


def discriminator_loss(real_logits: Sequence[Tensor], fake_logits: Sequence[Tensor]) -> Tensor:
    """Least-squares discriminator loss ``sum_k mean((1 - D_k(x))^2) + mean(D_k(G(s))^2)``.

    Zero when every real logit is 1 and every fake logit 0. Pass detached fake audio's logits.
    """
    _check_pairs(real_logits, fake_logits, "discriminator_loss")
    loss = real_logits[0].new_zeros(())
    for dr, dg in zip(real_logits, fake_logits):
        loss = loss + (1 - dr).pow(2).mean() + dg.pow(2).mean()
    return loss


def generator_adversarial_loss(fake_logits: Sequence[Tensor]) -> Tensor:
    """Least-squares generator loss ``sum_k mean((1 - D_k(G(s)))^2)``; zero when every fake logit is 1."""
    loss = fake_logits[0].new_zeros(())
    for dg in fake_logits:
        loss = loss + (1 - dg).pow(2).mean()
    return loss


def feature_matching_loss(real_features: Sequence[Sequence[Tensor]],
                          fake_features: Sequence[Sequence[Tensor]]) -> Tensor:
    """``sum_k sum_l mean|f_kl(x) - f_kl(G(s))|`` over sub-discriminators and layers (unweighted).

    Real features are detached. Multiply by :data:`FEATURE_MATCHING_WEIGHT` (2) for HiFi-GAN.
    """
    _check_pairs(real_features, fake_features, "feature_matching_loss")
    loss = fake_features[0][0].new_zeros(())
    for fr, fg in zip(real_features, fake_features):
        _check_pairs(fr, fg, "feature_matching_loss (layers)")
        for r, g in zip(fr, fg):
            loss = loss + (r.detach() - g).abs().mean()
    return loss


def mel_l1_loss(mel_fake: Tensor, mel_real: Tensor) -> Tensor:
    """Mean absolute difference of log-mel spectrograms (unweighted; HiFi-GAN multiplies by 45).

    Shape:
        Inputs: ``(B, n_mels, N)`` each; if the frame counts differ the longer is cut.
    """
    n = min(mel_fake.shape[-1], mel_real.shape[-1])
    return F.l1_loss(mel_fake[..., :n], mel_real[..., :n])


def stft_loss(fake: Tensor, real: Tensor, n_fft: int, hop_length: int, window: Tensor) -> Tuple[Tensor, Tensor]:
    """Spectral convergence ``||X - Y||_F / ||X||_F`` and log-magnitude L1 at one resolution (``X`` real)."""
    mag_fake = stft_magnitude(fake, n_fft, hop_length, window)
    mag_real = stft_magnitude(real, n_fft, hop_length, window)
    sc = torch.linalg.norm(mag_real - mag_fake) / torch.linalg.norm(mag_real).clamp_min(1e-7)
    log_mag = F.l1_loss(mag_fake.log(), mag_real.log())
    return sc, log_mag


def multi_resolution_stft_loss(fake: Tensor, real: Tensor, resolutions: Sequence[Tuple[int, int, int]] = STFT_RESOLUTIONS,
                               windows: Sequence[Tensor] = None) -> Tensor:
    """Mean over resolutions of spectral convergence + log-magnitude L1 (Yamamoto et al., 2020).

    Args:
        fake, real: ``(B, T)`` or ``(B, 1, T)``, same shape.
        resolutions: ``(n_fft, hop, win)`` triples.
        windows: Hann windows per resolution (built when ``None``).

    Zero for identical inputs, positive otherwise.
    """
    if fake.shape != real.shape:
        raise ValueError(f"multi_resolution_stft_loss: shapes differ, {tuple(fake.shape)} vs {tuple(real.shape)}")
    total = fake.new_zeros(())
    for i, (n_fft, hop, win) in enumerate(resolutions):
        window = windows[i] if windows is not None else torch.hann_window(win, device=fake.device)
        sc, log_mag = stft_loss(fake, real, n_fft, hop, window)
        total = total + sc + log_mag
    return total / len(resolutions)


class MultiResolutionSTFTLoss(nn.Module):
    """Module form of :func:`multi_resolution_stft_loss` with the windows built once.

    Args:
        resolutions: ``(n_fft, hop, win)`` triples (default: Parallel WaveGAN's three).

    Shape:
        Inputs: ``(B, T)`` or ``(B, 1, T)``. Output: scalar.
    """

    def __init__(self, resolutions: Sequence[Tuple[int, int, int]] = STFT_RESOLUTIONS):
        super().__init__()
        self.resolutions = tuple(tuple(int(v) for v in r) for r in resolutions)
        for n_fft, hop, win in self.resolutions:
            if not 0 < win <= n_fft or hop < 1:
                raise ValueError(f"bad STFT resolution (n_fft={n_fft}, hop={hop}, win={win})")
        for i, (_, _, win) in enumerate(self.resolutions):
            self.register_buffer(f"window{i}", torch.hann_window(win), persistent=False)

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        windows = [getattr(self, f"window{i}") for i in range(len(self.resolutions))]
        return multi_resolution_stft_loss(fake, real, self.resolutions, windows)
