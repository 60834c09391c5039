"""An iSTFTNet-style generator (Kaneko et al., ICASSP 2022): HiFi-GAN's trunk, then an inverse STFT.

HiFi-GAN's network (:class:`~.hifigan.HiFiGAN`) up to its last residual blocks, but with
fewer upsampling layers: the output convolution gives ``istft_n_fft + 2`` channels at
``sample_rate / istft_hop`` (log-magnitude and phase of a short STFT) and a small
inverse STFT (:class:`~.istft.InverseSTFT`, ``padding="same"``) makes the last
``istft_hop``-fold step. The paper's "C8C8I" (V1 with factors 8, 8 and an iSTFT of
``n_fft=16``, hop 4) is the default. The trunk's upsampling layers are any kind of
:func:`audioup.layers.build_upsampler`, as in HiFi-GAN.

The magnitude is ``exp`` clipped at 100 (:func:`~.vocos.spectrum_from_head`), the phase
``pi * sin(x)`` (iSTFTNet bounds it with a sine; the factor pi lets it cover a full turn).

``upsample_factors`` lists the trunk's factors and then ``istft_hop``: the iSTFT is the
last upsampling stage, and the tonal measure attributes the multiples of
``sample_rate / istft_hop`` to it.

Presets (:func:`istftnet_preset`): HiFi-GAN's ``v1``, ``v2``, ``v3`` and ``tiny`` with
their last factors (2, 2; or 4) replaced by the iSTFT (hop 4, ``n_fft`` 16).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .hifigan import HIFIGAN_PRESETS, run_stages
from .istft import InverseSTFT
from .resblocks import MRF, RESBLOCKS, weight_norm_conv
from .upsampling import MelGenerator, UpsamplerSpec, check_mel
from .vocos import spectrum_from_head


def _from_hifigan(name: str) -> Dict[str, Any]:
    preset = dict(HIFIGAN_PRESETS[name])
    preset.update(upsample_factors=(8, 8), upsample_kernel_sizes=(16, 16), istft_n_fft=16, istft_hop=4)
    return preset


ISTFTNET_PRESETS: Dict[str, Dict[str, Any]] = {name: _from_hifigan(name) for name in ("v1", "v2", "v3", "tiny")}


def istftnet_preset(name: str) -> Dict[str, Any]:
    """Keyword arguments of :class:`ISTFTNet` for ``"v1"``, ``"v2"``, ``"v3"`` or ``"tiny"`` (a copy)."""
    key = str(name).lower()
    if key not in ISTFTNET_PRESETS:
        raise ValueError(f"unknown iSTFTNet preset {name!r}; known: {', '.join(ISTFTNET_PRESETS)}")
    return dict(ISTFTNET_PRESETS[key])


class ISTFTNet(MelGenerator):
    """iSTFTNet-style generator: log-mel ``(B, n_mels, N)`` -> waveform ``(B, 1, hop_length * N)``.

    Args:
        n_mels, upsample_kernel_sizes, upsample_initial_channel, resblock,
        resblock_kernel_sizes, resblock_dilations, upsampler, sample_rate, upsampler_init:
            as for :class:`~.hifigan.HiFiGAN`.
        upsample_factors: the trunk's upsampling layers (the hop is their product times
            ``istft_hop``).
        istft_n_fft, istft_hop: the inverse STFT's size and hop (``istft_n_fft`` a
            multiple of ``istft_hop``).

    Attributes:
        hop_length, sample_rate, n_mels, upsampler_spec, ``upsamplers`` (the trunk's layers),
        ``upsample_factors`` (the trunk's factors, then ``istft_hop``).

    Shape:
        Input: ``(B, n_mels, N)``. Output: ``(B, 1, hop_length * N)``, not clipped.

    >>> import torch
    >>> ISTFTNet(**istftnet_preset("tiny"))(torch.zeros(1, 80, 3)).shape
    torch.Size([1, 1, 768])
    """

    def __init__(self, n_mels: int = 80, upsample_factors: Sequence[int] = (8, 8),
                 upsample_kernel_sizes: Optional[Sequence[int]] = (16, 16),
                 upsample_initial_channel: int = 512, resblock: str = "1",
                 resblock_kernel_sizes: Sequence[int] = (3, 7, 11),
                 resblock_dilations: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
                 upsampler: UpsamplerSpec = "transposed", sample_rate: int = 22050,
                 upsampler_init: str = "level", istft_n_fft: int = 16, istft_hop: int = 4):
        super().__init__()
        resblock = str(resblock)
        if resblock not in RESBLOCKS:
            raise ValueError(f"resblock must be '1' or '2', got {resblock!r}")
        channels = self.build_trunk(n_mels, sample_rate, upsample_factors, upsample_kernel_sizes,
                                    upsample_initial_channel, resblock_kernel_sizes, resblock_dilations,
                                    upsampler, upsampler_init)
        self.istft = InverseSTFT(istft_n_fft, istft_hop, padding="same")
        self.istft_n_fft, self.istft_hop = int(istft_n_fft), int(istft_hop)
        self.upsample_factors = (*self.upsample_factors, self.istft_hop)
        self.hop_length = math.prod(self.upsample_factors)
        block = RESBLOCKS[resblock]
        self.mrfs = nn.ModuleList(
            MRF([block(ch, k, d) for k, d in zip(resblock_kernel_sizes, resblock_dilations)])
            for ch in channels[1:])
        self.conv_post = weight_norm_conv(channels[-1], istft_n_fft + 2, 7)

    def forward(self, mel: Tensor) -> Tensor:
        check_mel(mel, self.n_mels, type(self).__name__)
        return self.waveform(run_stages(self, self.conv_pre(mel)))

    def waveform(self, x: Tensor) -> Tensor:
        """The last residual blocks' output to the waveform ``(B, 1, T)``: the head, then the inverse STFT."""
        real, imag = spectrum_from_head(self.post(x), self.istft_n_fft // 2 + 1, sine_phase=True)
        return self.istft(real, imag).unsqueeze(1)

    def post(self, x: Tensor) -> Tensor:
        """The output convolution after the last residual blocks: ``(B, istft_n_fft + 2, frames)``,
        log-magnitudes then the phases' pre-activations."""
        return self.conv_post(F.leaky_relu(x))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", istft_n_fft={self.istft_n_fft}, istft_hop={self.istft_hop}"

