"""HiFi-GAN generator (Kong et al., NeurIPS 2020) with a swappable upsampling layer.

The network is the paper's: a 7-tap input convolution, then per factor a LeakyReLU, an
upsampler halving the channels and multi-receptive-field fusion (:class:`~.resblocks.MRF`),
then LeakyReLU, a 7-tap convolution to one channel and tanh. The only change is that the
upsampling layers come from :func:`audioup.layers.build_upsampler`, so the same network
can be trained with ``transposed``, ``resize``, ``subpixel`` or ``sinc`` layers.

Presets (:func:`hifigan_preset`): ``v1`` (13.92M parameters with transposed layers),
``v2`` (0.93M), ``v3`` (1.46M), and ``tiny`` for CPU tests.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .resblocks import LRELU_SLOPE, MRF, RESBLOCKS, weight_norm_conv
from .upsampling import MelGenerator, UpsamplerSpec, check_mel

HIFIGAN_PRESETS: Dict[str, Dict[str, Any]] = {
    "v1": dict(upsample_factors=(8, 8, 2, 2), upsample_kernel_sizes=(16, 16, 4, 4),
               upsample_initial_channel=512, resblock="1", resblock_kernel_sizes=(3, 7, 11),
               resblock_dilations=((1, 3, 5), (1, 3, 5), (1, 3, 5))),
    "v2": dict(upsample_factors=(8, 8, 2, 2), upsample_kernel_sizes=(16, 16, 4, 4),
               upsample_initial_channel=128, resblock="1", resblock_kernel_sizes=(3, 7, 11),
               resblock_dilations=((1, 3, 5), (1, 3, 5), (1, 3, 5))),
    "v3": dict(upsample_factors=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8),
               upsample_initial_channel=256, resblock="2", resblock_kernel_sizes=(3, 5, 7),
               resblock_dilations=((1, 2), (2, 6), (3, 12))),
    # V3's shape with 32 channels (about 39k parameters): CPU tests and smoke runs.
    "tiny": dict(upsample_factors=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8),
                 upsample_initial_channel=32, resblock="2", resblock_kernel_sizes=(3, 5, 7),
                 resblock_dilations=((1, 2), (2, 6), (3, 12))),
}


def hifigan_preset(name: str) -> Dict[str, Any]:
    """Keyword arguments of :class:`HiFiGAN` for ``"v1"``, ``"v2"``, ``"v3"`` or ``"tiny"`` (a copy)."""
    key = str(name).lower()
    if key not in HIFIGAN_PRESETS:
        raise ValueError(f"unknown HiFi-GAN preset {name!r}; known: {', '.join(HIFIGAN_PRESETS)}")
    return dict(HIFIGAN_PRESETS[key])


def run_stages(generator: MelGenerator, x: Tensor, start: int = 0, stop: Optional[int] = None) -> Tensor:
    """HiFi-GAN's stages ``start`` to ``stop`` (default: to the last) on ``x``: for each, LeakyReLU,
    the upsampler, the residual blocks. :class:`HiFiGAN` and the iSTFTNet trunk run this order; the
    conversion's fine-tune runs it in two parts (a frozen prefix, then the rest)."""
    for i in range(start, len(generator.upsamplers) if stop is None else stop):
        x = generator.mrfs[i](generator.upsamplers[i](F.leaky_relu(x, LRELU_SLOPE)))
    return x


class HiFiGAN(MelGenerator):
    """HiFi-GAN generator: log-mel ``(B, n_mels, N)`` -> waveform ``(B, 1, hop_length * N)``.

    Args:
        n_mels: mel bins of the input.
        upsample_factors: one upsampling layer per factor; their product is the hop length,
            so any sample rate / hop works (e.g. 16 kHz hop 200 with ``(5, 5, 4, 2)``).
        upsample_kernel_sizes: kernel of each ``transposed`` layer; ``None`` = ``2 * factor``
            (which is the paper's 16, 16, 4, 4 for 8, 8, 2, 2).
        upsample_initial_channel: channels after the input convolution; halved by every
            upsampler.
        resblock: ``"1"`` (:class:`~.resblocks.ResBlock1`) or ``"2"``.
        resblock_kernel_sizes, resblock_dilations: one residual block per pair (MRF).
        upsampler: upsampler spec (kind name/alias or mapping with ``kind``), ``None`` =
            ``"transposed"``; see :mod:`.upsampling` for kernel sizes and initialisation.
        sample_rate: recorded for callers (the network does not depend on it).
        upsampler_init: ``"level"`` (default), ``"matched"`` or ``"hifigan"``: how the
            upsamplers start (see :mod:`.upsampling`).

    Attributes:
        hop_length, sample_rate, n_mels, upsample_factors, upsampler_spec, and
        ``upsamplers`` (the upsampling layers in order, each with ``.factor``).

    Shape:
        Input: ``(B, n_mels, N)``. Output: ``(B, 1, hop_length * N)`` in ``[-1, 1]``.

    >>> import torch
    >>> HiFiGAN(**hifigan_preset("tiny"))(torch.zeros(1, 80, 3)).shape
    torch.Size([1, 1, 768])
    """

    def __init__(self, n_mels: int = 80, upsample_factors: Sequence[int] = (8, 8, 2, 2),
                 upsample_kernel_sizes: Optional[Sequence[int]] = None,
                 upsample_initial_channel: int = 512, resblock: str = "1",
                 resblock_kernel_sizes: Sequence[int] = (3, 7, 11),
                 resblock_dilations: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
                 upsampler: UpsamplerSpec = "transposed", sample_rate: int = 22050,
                 upsampler_init: str = "level"):
        super().__init__()
        resblock = str(resblock)
        if resblock not in RESBLOCKS:
            raise ValueError(f"resblock must be '1' or '2', got {resblock!r}")
        channels = self.build_trunk(n_mels, sample_rate, upsample_factors, upsample_kernel_sizes,
                                    upsample_initial_channel, resblock_kernel_sizes, resblock_dilations,
                                    upsampler, upsampler_init)
        block = RESBLOCKS[resblock]
        self.mrfs = nn.ModuleList(
            MRF([block(ch, k, d) for k, d in zip(resblock_kernel_sizes, resblock_dilations)])
            for ch in channels[1:])
        self.conv_post = weight_norm_conv(channels[-1], 1, 7)

    def forward(self, mel: Tensor) -> Tensor:
        check_mel(mel, self.n_mels, type(self).__name__)
        return self.waveform(run_stages(self, self.conv_pre(mel)))

    def post(self, x: Tensor) -> Tensor:
        """The output convolution after the last residual blocks (before ``tanh``)."""
        return self.conv_post(F.leaky_relu(x))  # PyTorch's default slope 0.01, as in the paper's code
