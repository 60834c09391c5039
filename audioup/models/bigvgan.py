"""BigVGAN-style generator (Lee et al., ICLR 2023) with a swappable upsampling layer.

Like HiFi-GAN, but the residual blocks are AMP blocks (:class:`AMPBlock`): every
nonlinearity is a Snake/SnakeBeta applied at twice the rate through anti-aliased 2x
resampling (:class:`~.activations.AntiAliasedActivation`), and the upsamplers are not
preceded by a LeakyReLU. The upsampling layers come from
:func:`audioup.layers.build_upsampler` exactly as in :class:`~.hifigan.HiFiGAN`.

Presets (:func:`bigvgan_preset`): ``base`` (24 kHz, hop 256, 100 mels, 512 channels,
about 14M parameters), ``tiny`` for CPU tests.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from torch import Tensor, nn

from .activations import make_activation
from .resblocks import MRF, add_into, weight_norm_conv
from .upsampling import MelGenerator, UpsamplerSpec, check_mel

BIGVGAN_PRESETS: Dict[str, Dict[str, Any]] = {
    "base": dict(n_mels=100, upsample_factors=(8, 8, 2, 2), upsample_kernel_sizes=(16, 16, 4, 4),
                 upsample_initial_channel=512, resblock_kernel_sizes=(3, 7, 11),
                 resblock_dilations=((1, 3, 5), (1, 3, 5), (1, 3, 5)), activation="snakebeta",
                 sample_rate=24000),
    "tiny": dict(n_mels=80, upsample_factors=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8),
                 upsample_initial_channel=32, resblock_kernel_sizes=(3, 7),
                 resblock_dilations=((1, 3), (1, 3)), activation="snakebeta", sample_rate=22050),
}


def bigvgan_preset(name: str) -> Dict[str, Any]:
    """Keyword arguments of :class:`BigVGAN` for ``"base"`` or ``"tiny"`` (a copy)."""
    key = str(name).lower()
    if key not in BIGVGAN_PRESETS:
        raise ValueError(f"unknown BigVGAN preset {name!r}; known: {', '.join(BIGVGAN_PRESETS)}")
    return dict(BIGVGAN_PRESETS[key])


class AMPBlock(nn.Module):
    """Anti-aliased multi-periodicity block: per dilation ``d``,
    ``x += conv_1(act(conv_d(act(x))))`` with anti-aliased Snake/SnakeBeta activations.

    Args:
        channels: channels in and out.
        kernel_size: odd kernel length.
        dilations: dilation of the first convolution of each pair.
        activation: ``"snake"`` or ``"snakebeta"``.

    Shape:
        Input: ``(B, channels, T)``. Output: ``(B, channels, T)``.
    """

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3, 5),
                 activation: str = "snakebeta"):
        super().__init__()
        self.convs1 = nn.ModuleList(weight_norm_conv(channels, channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(weight_norm_conv(channels, channels, kernel_size, 1) for _ in dilations)
        self.acts1 = nn.ModuleList(make_activation(activation, channels) for _ in dilations)
        self.acts2 = nn.ModuleList(make_activation(activation, channels) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2, a1, a2 in zip(self.convs1, self.convs2, self.acts1, self.acts2):
            x = add_into(c2(a2(c1(a1(x)))), x)  # in place when it can (see resblocks)
        return x


class BigVGAN(MelGenerator):
    """BigVGAN-style generator: log-mel ``(B, n_mels, N)`` -> waveform ``(B, 1, hop_length * N)``.

    Args:
        n_mels: mel bins of the input.
        upsample_factors: one upsampling layer per factor (product = hop length).
        upsample_kernel_sizes: kernel of each ``transposed`` layer; ``None`` = ``2 * factor``.
        upsample_initial_channel: channels after the input convolution; halved per upsampler.
        resblock_kernel_sizes, resblock_dilations: one AMP block per pair, averaged.
        activation: ``"snakebeta"`` (default) or ``"snake"``.
        upsampler: upsampler spec, as for :class:`~.hifigan.HiFiGAN`.
        sample_rate: recorded for callers.
        upsampler_init: ``"level"`` (default), ``"matched"`` or ``"hifigan"``: how the
            upsamplers start (see :mod:`.upsampling`).

    Attributes:
        hop_length, sample_rate, n_mels, upsample_factors, upsampler_spec, upsamplers.

    Shape:
        Input: ``(B, n_mels, N)``. Output: ``(B, 1, hop_length * N)`` in ``[-1, 1]``.
    """

    def __init__(self, n_mels: int = 100, upsample_factors: Sequence[int] = (4, 4, 2, 2, 2, 2),
                 upsample_kernel_sizes: Optional[Sequence[int]] = None,
                 upsample_initial_channel: int = 512, resblock_kernel_sizes: Sequence[int] = (3, 7, 11),
                 resblock_dilations: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
                 activation: str = "snakebeta", upsampler: UpsamplerSpec = "transposed",
                 sample_rate: int = 24000,
                 upsampler_init: str = "level"):
        super().__init__()
        channels = self.build_trunk(n_mels, sample_rate, upsample_factors, upsample_kernel_sizes,
                                    upsample_initial_channel, resblock_kernel_sizes, resblock_dilations,
                                    upsampler, upsampler_init)
        self.activation = activation
        self.mrfs = nn.ModuleList(
            MRF([AMPBlock(ch, k, d, activation) for k, d in zip(resblock_kernel_sizes, resblock_dilations)])
            for ch in channels[1:])
        self.act_post = make_activation(activation, channels[-1])
        self.conv_post = weight_norm_conv(channels[-1], 1, 7)

    def forward(self, mel: Tensor) -> Tensor:
        check_mel(mel, self.n_mels, type(self).__name__)
        x = self.conv_pre(mel)
        for up, mrf in zip(self.upsamplers, self.mrfs):
            x = mrf(up(x))
        return self.post(x).tanh()

    def post(self, x: Tensor) -> Tensor:
        """The output convolution after the last AMP blocks (before ``tanh``)."""
        return self.conv_post(self.act_post(x))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", activation={self.activation}"
