"""A Vocos-style generator (Siuzdak, 2023): ConvNeXt at frame rate, then one inverse STFT.

Nothing runs at the audio rate except the final :class:`~.istft.InverseSTFT`: a 7-tap
input convolution and LayerNorm, ``num_layers`` ConvNeXt blocks (depthwise 7-tap
convolution, LayerNorm, pointwise MLP ``dim -> intermediate_dim -> dim`` with GELU,
a learnt per-channel layer scale starting at ``1 / num_layers``, a residual), a final
LayerNorm, and a linear head to ``n_fft + 2`` channels per frame: log-magnitude and
phase of every bin. The magnitude is ``exp`` clipped at 100, the phase enters as its
cosine and sine, and the inverse STFT (Hann window, ``padding="same"``) turns the
frames into ``hop_length`` samples each. Weights start as in Vocos: truncated normal
(std 0.02), zero biases.

The iSTFT hop is this model's only upsampling stage: a frame-periodic error puts its
lines at multiples of ``sample_rate / hop_length`` (86.1 Hz at 22.05 kHz, hop 256), so
``upsample_factors`` is ``(hop_length,)`` and the tonal measure predicts that comb.

Presets (:func:`vocos_preset`): ``base`` (dim 512, MLP 1536, 8 blocks, n_fft 1024: the
size of Vocos' mel configuration, 13.5M parameters with 80 mels), ``tiny`` for CPU tests.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .istft import InverseSTFT
from .upsampling import check_mel

VOCOS_PRESETS: Dict[str, Dict[str, Any]] = {
    "base": dict(dim=512, intermediate_dim=1536, num_layers=8, n_fft=1024),
    "tiny": dict(dim=64, intermediate_dim=192, num_layers=2, n_fft=1024),
}
MAX_MAGNITUDE = 100.0  # exp(log-magnitude) is clipped here, as in Vocos (a loud spike, not inf)
INIT_STD = 0.02


def vocos_preset(name: str) -> Dict[str, Any]:
    """Keyword arguments of :class:`Vocos` for ``"base"`` or ``"tiny"`` (a copy)."""
    key = str(name).lower()
    if key not in VOCOS_PRESETS:
        raise ValueError(f"unknown Vocos preset {name!r}; known: {', '.join(VOCOS_PRESETS)}")
    return dict(VOCOS_PRESETS[key])


class ConvNeXtBlock(nn.Module):
    """``x + gamma * MLP(LayerNorm(depthwise_conv(x)))`` on ``(B, N, dim)`` frames.

    The residual stream is frames-major (``(B, N, dim)``): LayerNorm and the MLP read it as
    it is, and only the depthwise convolution sees it as ``(B, dim, N)`` (a view), so a
    block makes one layout copy instead of Vocos' two.

    Args:
        dim: channels; intermediate_dim: the MLP's hidden width.
        layer_scale: the starting value of the per-channel scale ``gamma``.

    Shape:
        Input: ``(B, N, dim)``. Output: ``(B, N, dim)``.
    """

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm(self.dwconv(x.transpose(1, 2)).transpose(1, 2))
        return x + self.pwconv2(F.gelu(self.pwconv1(y))) * self.gamma


def spectrum_from_head(head: Tensor, bins: int, sine_phase: bool = False) -> Tuple[Tensor, Tensor]:
    """``(real, imag)`` of a ``(B, 2 * bins, N)`` head output: log-magnitudes, then phases.

    The magnitude is ``exp`` clipped at :data:`MAX_MAGNITUDE`; the phase is ``head[:, bins:]``
    as it is (Vocos) or, with ``sine_phase``, ``pi * sin`` of it (iSTFTNet bounds it with a sine).
    """
    magnitude = torch.exp(head[:, :bins]).clamp(max=MAX_MAGNITUDE)
    phase = head[:, bins:]
    if sine_phase:
        phase = math.pi * torch.sin(phase)
    return magnitude * torch.cos(phase), magnitude * torch.sin(phase)


class Vocos(nn.Module):
    """Vocos-style generator: log-mel ``(B, n_mels, N)`` -> waveform ``(B, 1, hop_length * N)``.

    Args:
        n_mels: mel bins of the input.
        dim, intermediate_dim, num_layers: ConvNeXt width, MLP width and depth.
        n_fft: the inverse STFT's size (a multiple of ``hop_length``).
        hop_length: samples per frame (the mel hop).
        sample_rate: recorded for callers.

    Attributes:
        hop_length, sample_rate, n_mels, and ``upsample_factors = (hop_length,)``: the iSTFT
        is the one upsampling stage, where the tonal measure predicts the frame-rate lines.

    Shape:
        Input: ``(B, n_mels, N)``. Output: ``(B, 1, hop_length * N)``, not clipped (as in Vocos).

    >>> Vocos(**vocos_preset("tiny"))(torch.zeros(1, 80, 3)).shape
    torch.Size([1, 1, 768])
    """

    def __init__(self, n_mels: int = 80, dim: int = 512, intermediate_dim: int = 1536, num_layers: int = 8,
                 n_fft: int = 1024, hop_length: int = 256, sample_rate: int = 22050):
        super().__init__()
        if min(dim, intermediate_dim, num_layers) < 1:
            raise ValueError(f"dim, intermediate_dim and num_layers must be >= 1, got "
                             f"{dim}, {intermediate_dim}, {num_layers}")
        self.n_mels, self.sample_rate = int(n_mels), int(sample_rate)
        self.hop_length, self.n_fft = int(hop_length), int(n_fft)
        self.upsample_factors = (self.hop_length,)
        self.embed = nn.Conv1d(n_mels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim, 1.0 / num_layers)
                                    for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, n_fft + 2)
        self.istft = InverseSTFT(n_fft, hop_length, padding="same")
        self.apply(_init_weights)

    def forward(self, mel: Tensor) -> Tensor:
        check_mel(mel, self.n_mels, type(self).__name__)
        x = self.norm(self.embed(mel).transpose(1, 2))
        for block in self.blocks:
            x = block(x)
        head = self.head(self.final_norm(x)).transpose(1, 2)
        real, imag = spectrum_from_head(head, self.n_fft // 2 + 1)
        return self.istft(real, imag).unsqueeze(1)

    def remove_weight_norm(self):
        """Nothing to fold (no weight norm); returns ``self`` (the inference loader calls it)."""
        return self

    def extra_repr(self) -> str:
        return (f"n_mels={self.n_mels}, sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
                f"n_fft={self.n_fft}")


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=INIT_STD)
        nn.init.zeros_(module.bias)
