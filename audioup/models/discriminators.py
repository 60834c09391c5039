"""GAN discriminators for waveforms.

- :class:`MultiPeriodDiscriminator` (HiFi-GAN): the waveform folded into ``(T / p, p)``
  images for periods 2, 3, 5, 7, 11, each judged by 2D convolutions along time.
- :class:`MultiScaleDiscriminator` (MelGAN / HiFi-GAN): the same 1D network on the raw
  waveform and on 2x and 4x average-pooled copies; the first uses spectral norm.
- :class:`MultiResolutionDiscriminator` (UnivNet): 2D convolutions over linear magnitude
  spectrograms at three STFT resolutions.

Every discriminator maps ``(B, 1, T)`` to ``(logits, features)``: one logit tensor per
sub-discriminator (flattened to ``(B, L)``) and, per sub-discriminator, the list of its
intermediate activations (for feature matching). :func:`build_discriminators` and
:class:`CombinedDiscriminator` put several together.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from ..audio.mel import padded_stft
from ..audio.stft import STFT_RESOLUTIONS

LRELU_SLOPE = 0.1
Output = Tuple[List[Tensor], List[List[Tensor]]]


def check_wav(wav: Tensor, name: str) -> None:
    if wav.dim() != 3 or wav.shape[1] != 1:
        raise ValueError(f"{name} expects a waveform of shape (B, 1, T), got {tuple(wav.shape)}")


def run_stack(x: Tensor, convs: nn.ModuleList, post: nn.Module) -> Tuple[Tensor, List[Tensor]]:
    """LeakyReLU after every conv, then the post conv; returns the flattened logits and the features."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        features.append(x)
    x = post(x)
    features.append(x)
    return x.flatten(1), features


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period sub-discriminator: reflect-pad to a multiple of ``period``, fold, 2D convs.

    Shape:
        Input: ``(B, 1, T)``. Output: logits ``(B, L)`` and 6 feature maps ``(B, C, T', period)``.
    """

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3,
                 channels: Sequence[int] = (32, 128, 512, 1024, 1024)):
        super().__init__()
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        pad = ((kernel_size - 1) // 2, 0)
        chans = [1, *channels]
        convs = [weight_norm(nn.Conv2d(chans[i], chans[i + 1], (kernel_size, 1), (stride, 1), pad))
                 for i in range(len(channels) - 1)]
        convs.append(weight_norm(nn.Conv2d(chans[-2], chans[-1], (kernel_size, 1), 1, pad)))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, (1, 0)))

    def forward(self, wav: Tensor) -> Tuple[Tensor, List[Tensor]]:
        batch, _, length = wav.shape
        extra = (-length) % self.period
        if extra:
            wav = F.pad(wav, (0, extra), mode="reflect" if length > extra else "replicate")
        x = wav.view(batch, 1, -1, self.period)
        return run_stack(x, self.convs, self.post)


class ScaleDiscriminator(nn.Module):
    """MelGAN's 1D sub-discriminator (strided, grouped convolutions).

    Args:
        norm: ``weight_norm`` or ``spectral_norm`` (from ``torch.nn.utils.parametrizations``).
        width: channel multiplier (1 = the paper's 128 ... 1024 channels).

    Shape:
        Input: ``(B, 1, T)``. Output: logits ``(B, L)`` and 8 feature maps.
    """

    def __init__(self, norm: Callable[[nn.Module], nn.Module] = weight_norm, width: float = 1.0):
        super().__init__()
        c = [max(4, int(n * width)) for n in (128, 128, 256, 512, 1024, 1024, 1024)]
        c = [-(-n // 16) * 16 for n in c]  # grouped convolutions need multiples of 16
        # (in, out, kernel, stride, groups, padding)
        spec = [(1, c[0], 15, 1, 1, 7), (c[0], c[1], 41, 2, 4, 20), (c[1], c[2], 41, 2, 16, 20),
                (c[2], c[3], 41, 4, 16, 20), (c[3], c[4], 41, 4, 16, 20), (c[4], c[5], 41, 1, 16, 20),
                (c[5], c[6], 5, 1, 1, 2)]
        self.convs = nn.ModuleList(norm(nn.Conv1d(i, o, k, s, groups=g, padding=p)) for i, o, k, s, g, p in spec)
        self.post = norm(nn.Conv1d(c[6], 1, 3, 1, padding=1))

    def forward(self, wav: Tensor) -> Tuple[Tensor, List[Tensor]]:
        return run_stack(wav, self.convs, self.post)


class ResolutionDiscriminator(nn.Module):
    """UnivNet's spectrogram sub-discriminator on ``|STFT|`` at one ``(n_fft, hop, win)``.

    Shape:
        Input: ``(B, 1, T)``. Output: logits ``(B, L)`` and 6 feature maps ``(B, C, F', frames)``.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, channels: int = 32):
        super().__init__()
        if not 0 < win_length <= n_fft or hop_length < 1:
            raise ValueError(f"bad STFT resolution (n_fft={n_fft}, hop={hop_length}, win={win_length})")
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        c = channels
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv2d(1, c, (3, 9), padding=(1, 4))),
            *[weight_norm(nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4))) for _ in range(3)],
            weight_norm(nn.Conv2d(c, c, (3, 3), padding=(1, 1))),
        ])
        self.post = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def spectrogram(self, wav: Tensor) -> Tensor:
        """``(B, 1, T)`` -> magnitude ``(B, 1, n_fft // 2 + 1, frames)``."""
        return padded_stft(wav.squeeze(1), self.n_fft, self.hop_length, self.window).abs().unsqueeze(1)

    def forward(self, wav: Tensor) -> Tuple[Tensor, List[Tensor]]:
        return run_stack(self.spectrogram(wav), self.convs, self.post)


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`PeriodDiscriminator` per period (HiFi-GAN: 2, 3, 5, 7, 11).

    Shape:
        Input: ``(B, 1, T)``. Output: ``(logits, features)``, one entry per period.
    """

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11),
                 channels: Sequence[int] = (32, 128, 512, 1024, 1024)):
        super().__init__()
        self.periods = tuple(periods)
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels=channels) for p in self.periods)

    def forward(self, wav: Tensor) -> Output:
        check_wav(wav, type(self).__name__)
        outs = [d(wav) for d in self.discriminators]
        return [o[0] for o in outs], [o[1] for o in outs]


class MultiScaleDiscriminator(nn.Module):
    """``n_scales`` :class:`ScaleDiscriminator` on the waveform, average-pooled 2x between scales.

    The first scale uses spectral norm, the others weight norm (HiFi-GAN).

    Shape:
        Input: ``(B, 1, T)``. Output: ``(logits, features)``, one entry per scale.
    """

    def __init__(self, n_scales: int = 3, width: float = 1.0):
        super().__init__()
        if n_scales < 1:
            raise ValueError(f"n_scales must be >= 1, got {n_scales}")
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(spectral_norm if i == 0 else weight_norm, width) for i in range(n_scales))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wav: Tensor) -> Output:
        check_wav(wav, type(self).__name__)
        logits, features = [], []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                wav = self.pool(wav)
            out, feats = d(wav)
            logits.append(out)
            features.append(feats)
        return logits, features


UNIVNET_RESOLUTIONS = STFT_RESOLUTIONS  # UnivNet's MRD uses Parallel WaveGAN's loss resolutions


class MultiResolutionDiscriminator(nn.Module):
    """One :class:`ResolutionDiscriminator` per ``(n_fft, hop, win)`` (UnivNet's three by default).

    Shape:
        Input: ``(B, 1, T)``. Output: ``(logits, features)``, one entry per resolution.
    """

    def __init__(self, resolutions: Sequence[Tuple[int, int, int]] = UNIVNET_RESOLUTIONS, channels: int = 32):
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)
        self.discriminators = nn.ModuleList(ResolutionDiscriminator(*r, channels=channels) for r in self.resolutions)

    def forward(self, wav: Tensor) -> Output:
        check_wav(wav, type(self).__name__)
        outs = [d(wav) for d in self.discriminators]
        return [o[0] for o in outs], [o[1] for o in outs]


DISCRIMINATORS: Dict[str, type] = {
    "mpd": MultiPeriodDiscriminator, "msd": MultiScaleDiscriminator, "mrd": MultiResolutionDiscriminator,
}


def build_discriminators(names: Sequence[str] = ("mpd", "msd")) -> nn.ModuleDict:
    """``{"mpd": MultiPeriodDiscriminator(), ...}`` with default arguments, in the given order."""
    unknown = [n for n in names if n not in DISCRIMINATORS]
    if unknown or not names:
        raise ValueError(f"unknown discriminator(s) {unknown or list(names)}; known: {', '.join(DISCRIMINATORS)}")
    return nn.ModuleDict({n: DISCRIMINATORS[n]() for n in names})


class CombinedDiscriminator(nn.Module):
    """Several discriminators as one: their logits and feature lists concatenated in order.

    Args:
        names: keys of ``DISCRIMINATORS`` (default ``("mpd", "msd")``: HiFi-GAN).
        discriminators: modules to use instead (overrides ``names``).

    Shape:
        Input: ``(B, 1, T)``. Output: ``(logits, features)`` over all sub-discriminators.
    """

    def __init__(self, names: Sequence[str] = ("mpd", "msd"), discriminators: Dict[str, nn.Module] = None):
        super().__init__()
        self.discriminators = nn.ModuleDict(discriminators) if discriminators is not None \
            else build_discriminators(names)

    def forward(self, wav: Tensor) -> Output:
        logits: List[Tensor] = []
        features: List[List[Tensor]] = []
        for d in self.discriminators.values():
            out, feats = d(wav)
            logits.extend(out)
            features.extend(feats)
        return logits, features
