"""The multi-resolution STFT that the MR-STFT loss, the MR-STFT distance and the
resolution discriminator share.

- :data:`STFT_RESOLUTIONS`: Parallel WaveGAN's three ``(n_fft, hop, win)`` triples
  (FFT 1024/2048/512, hop 120/240/50, window 600/1200/240; UnivNet's MRD uses them too).
- :func:`stft_magnitude`: ``|STFT|`` with centred frames, floored for its logarithm.

HiFi-GAN's uncentred framing for mel spectrograms is :func:`audioup.audio.mel.padded_stft`.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

#: ``(n_fft, hop, win)`` per resolution (Yamamoto et al., Parallel WaveGAN 2020).
STFT_RESOLUTIONS: Tuple[Tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))

#: Magnitudes are floored here so that their logarithm is finite.
MAGNITUDE_FLOOR = 1e-7


def stft_magnitude(wav: Tensor, n_fft: int, hop_length: int, window: Tensor) -> Tensor:
    """``|STFT|`` of ``wav`` with centred frames, at least :data:`MAGNITUDE_FLOOR`.

    The ends are reflect-padded by ``n_fft // 2``; a signal too short to reflect
    (``T <= n_fft // 2``) is zero-padded instead.

    Shape:
        Input: ``(T,)``, ``(B, T)`` or ``(B, 1, T)``; ``window`` of length ``<= n_fft``.
        Output: ``(n_fft // 2 + 1, frames)`` or ``(B, n_fft // 2 + 1, frames)``, ``frames = T // hop_length + 1``.
    """
    if wav.dim() == 3:
        wav = wav.squeeze(1)
    spec = torch.stft(wav, n_fft, hop_length, window.shape[0], window.to(wav.dtype), center=True,
                      pad_mode="reflect" if wav.shape[-1] > n_fft // 2 else "constant", return_complex=True)
    return spec.abs().clamp_min(MAGNITUDE_FLOOR)


__all__ = ["STFT_RESOLUTIONS", "MAGNITUDE_FLOOR", "stft_magnitude"]
