"""The log-mel front end shared by training, inference and metrics.

Defaults follow HiFi-GAN's convention (n_fft 1024, hop 256, window 1024,
80 mel bins, 0-8000 Hz, Slaney mel scale and norm, magnitude not power,
natural log with a 1e-5 floor, reflect padding of ``(n_fft - hop) / 2`` on
both sides and no centring), so that a waveform of ``hop * N`` samples gives
exactly ``N`` frames.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: Optional[float] = None) -> Tensor:
    """Slaney-normalised mel filterbank, shape ``(n_mels, n_fft // 2 + 1)``."""
    import torchaudio.functional as AF  # ~0.1 s over torch; models use this module for padded_stft alone

    f_max = sample_rate / 2 if f_max is None else min(float(f_max), sample_rate / 2)
    fb = AF.melscale_fbanks(n_fft // 2 + 1, float(f_min), float(f_max), n_mels, sample_rate,
                            norm="slaney", mel_scale="slaney")
    return fb.T.contiguous()


def padded_stft(wav: Tensor, n_fft: int, hop_length: int, window: Tensor) -> Tensor:
    """Complex STFT with HiFi-GAN's framing: ``(n_fft - hop) / 2`` reflect padding, no centring.

    Falls back to replicate padding when ``wav`` is too short to reflect.

    Shape:
        Input: ``(B, T)``; window of length ``<= n_fft``. Output: ``(B, n_fft // 2 + 1, T // hop_length)``.
    """
    pad = (n_fft - hop_length) // 2
    mode = "reflect" if wav.shape[-1] > pad else "replicate"
    wav = F.pad(wav.unsqueeze(1), (pad, n_fft - hop_length - pad), mode=mode).squeeze(1)
    return torch.stft(wav, n_fft, hop_length=hop_length, win_length=window.shape[0],
                      window=window.to(wav.dtype), center=False, return_complex=True)


def mel_spectrogram(wav: Tensor, filterbank: Tensor, window: Tensor, n_fft: int, hop_length: int,
                    clamp: float = 1e-5, log: bool = True) -> Tensor:
    """Log-mel spectrogram of ``wav``.

    Args:
        wav: ``(T,)``, ``(B, T)`` or ``(B, 1, T)`` waveform.
        filterbank: ``(n_mels, n_fft // 2 + 1)`` from :func:`mel_filterbank`.
        window: analysis window of length ``win_length <= n_fft``.

    Shape:
        Output: ``(B, n_mels, T // hop_length)`` (``(n_mels, frames)`` for 1D input).
    """
    squeeze = wav.dim() == 1
    if wav.dim() == 3:
        wav = wav.squeeze(1)
    if squeeze:
        wav = wav.unsqueeze(0)
    spec = padded_stft(wav.float(), n_fft, hop_length, window)
    mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
    mel = torch.matmul(filterbank.float(), mag)
    if log:
        mel = torch.log(torch.clamp(mel, min=clamp))
    return mel[0] if squeeze else mel


class MelSpectrogram(nn.Module):
    """Module form of :func:`mel_spectrogram`; builds the filterbank and window once.

    Args:
        sample_rate, n_fft, hop_length, win_length, n_mels, f_min, f_max: the usual.
        clamp: floor before the log.

    Shape:
        Input: ``(B, T)`` or ``(B, 1, T)``. Output: ``(B, n_mels, T // hop_length)``.

    >>> MelSpectrogram(22050)(torch.zeros(2, 256 * 10)).shape
    torch.Size([2, 80, 10])
    """

    def __init__(self, sample_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256,
                 win_length: int = 1024, n_mels: int = 80, f_min: float = 0.0,
                 f_max: Optional[float] = 8000.0, clamp: float = 1e-5):
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
        if (n_fft - hop_length) < 0:
            raise ValueError(f"hop_length ({hop_length}) must be <= n_fft ({n_fft})")
        self.sample_rate, self.n_fft, self.hop_length = sample_rate, n_fft, hop_length
        self.win_length, self.n_mels, self.clamp = win_length, n_mels, clamp
        self.f_min, self.f_max = f_min, f_max
        self.register_buffer("filterbank", mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        return mel_spectrogram(wav, self.filterbank, self.window, self.n_fft, self.hop_length,
                               self.clamp)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"win_length={self.win_length}, n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}")
