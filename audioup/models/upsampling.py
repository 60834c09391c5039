"""The upsampling stack shared by the generators: one layer per factor, built from the layers registry.

A generator's ``upsampler`` argument is anything :func:`audioup.layers.build_upsampler`
accepts (``"transposed"``, ``"resize-linear"``, ``{"kind": "subpixel", "icnr": True}``,
...). Every layer gets the same treatment whatever its kind, so two generators differ only
in the layer's structure:

- weights drawn from HiFi-GAN's N(0, 0.01) (ICNR keeps its equal phases),
- with ``init="matched"`` (the default) every non-transposed layer is then rescaled so
  that its output on unit white noise has the RMS a transposed layer of the same shape
  has in expectation, ``0.01 * sqrt(C_in * K / s)`` (:func:`match_gain_`): a quiet
  interpolating layer (nearest, linear, sinc) no longer starts 10-40 dB below
  transposed, so what differs after training comes from the layer, not from its start
  (``init="hifigan"`` keeps the plain N(0, 0.01) of every kind),
- weight normalisation on ``.weight``.

Kernel sizes: ``transposed`` uses the generator's ``upsample_kernel_sizes`` (HiFi-GAN's
16, 16, 4, 4), other kinds their own defaults, unless the spec sets ``kernel_size``
(then every layer uses it).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from ..layers import build_upsampler, parse_upsampler_spec
from ..layers.base import weight_norm
from .resblocks import INIT_STD, remove_weight_norm_, weight_norm_conv

UpsamplerSpec = Union[None, str, Dict[str, Any]]


def check_factors(upsample_factors: Sequence[int],
                  upsample_kernel_sizes: Optional[Sequence[int]]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Validate factors and transposed kernel sizes; ``None`` kernels become ``2 * factor``.

    Raises:
        ValueError: empty or non-positive factors, or a kernel list of another length.
    """
    factors = tuple(int(f) for f in upsample_factors)
    if not factors or any(f < 1 for f in factors):
        raise ValueError(f"upsample_factors must be a non-empty list of integers >= 1, got {list(upsample_factors)}")
    if upsample_kernel_sizes is None:
        kernels = tuple(2 * f for f in factors)
    else:
        kernels = tuple(int(k) for k in upsample_kernel_sizes)
        if len(kernels) != len(factors):
            raise ValueError(f"upsample_kernel_sizes {list(kernels)} must have one entry per factor "
                             f"{list(factors)}")
    return factors, kernels


def normalize_spec(upsampler: UpsamplerSpec) -> Union[str, Dict[str, Any]]:
    """``None`` -> ``"transposed"``; names and mappings are checked (unknown kinds raise ``ValueError``)."""
    if upsampler is None:
        return "transposed"
    parse_upsampler_spec(upsampler)
    return upsampler if isinstance(upsampler, str) else dict(upsampler)


def init_upsampler_(layer: nn.Module, icnr: bool, std: float = INIT_STD) -> None:
    """N(0, std) weights; for ICNR every output channel's phases share one kernel."""
    with torch.no_grad():
        layer.weight.normal_(0.0, std)
        if icnr:
            factor = layer.factor
            w = layer.weight.view(-1, factor, *layer.weight.shape[1:])
            w.copy_(w[:, :1].expand_as(w))


INIT_MODES = ("matched", "hifigan")


def transposed_rms(in_channels: int, factor: int, kernel_size: int, std: float = INIT_STD) -> float:
    """Expected output RMS of a transposed convolution with N(0, std) weights on unit white noise.

    Each output sample sums ``in_channels * kernel_size / factor`` independent
    products on average, so its variance is ``std**2 * in_channels * kernel_size / factor``.
    """
    return std * math.sqrt(in_channels * kernel_size / factor)


def white_noise_rms(layer: nn.Module, in_channels: int, frames: int = 64, seed: int = 0) -> float:
    """Output RMS of ``layer`` on unit white noise (a local generator: the global RNG is untouched)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, in_channels, frames, generator=gen)
    with torch.no_grad():
        y = layer(x) - layer(torch.zeros_like(x))  # the bias is not part of the gain
        margin = y.shape[-1] // 8  # edges see padding, not noise
        y = y[..., margin:-margin] if margin else y
    return float(y.pow(2).mean().sqrt())


def match_gain_(layer: nn.Module, in_channels: int, factor: int, kernel_size: int,
                std: float = INIT_STD) -> float:
    """Scale ``layer.weight`` so its white-noise output RMS is :func:`transposed_rms`; returns the scale."""
    target = transposed_rms(in_channels, factor, kernel_size, std)
    actual = white_noise_rms(layer, in_channels)
    scale = target / actual if actual > 0 else 1.0
    with torch.no_grad():
        layer.weight.mul_(scale)
    return scale


def build_upsampling_stack(upsampler: UpsamplerSpec, channels: Sequence[int], factors: Sequence[int],
                           kernel_sizes: Sequence[int], use_weight_norm: bool = True,
                           init: str = "matched") -> nn.ModuleList:
    """One upsampler per factor: layer ``i`` maps ``channels[i]`` to ``channels[i + 1]``.

    Args:
        upsampler: a spec for :func:`audioup.layers.build_upsampler` (``None`` = transposed).
        channels: ``len(factors) + 1`` channel counts.
        factors: integer factors.
        kernel_sizes: transposed kernel sizes, one per factor.
        use_weight_norm: wrap each layer's ``weight`` in weight normalisation.
        init: ``"matched"`` (white-noise gain of a transposed layer with ``kernel_sizes[i]``)
            or ``"hifigan"`` (plain N(0, 0.01) whatever the kind).
    """
    if init not in INIT_MODES:
        raise ValueError(f"upsampler init must be one of {', '.join(INIT_MODES)}, got {init!r}")
    spec = normalize_spec(upsampler)
    kind, options = parse_upsampler_spec(spec)
    layers: List[nn.Module] = []
    for i, factor in enumerate(factors):
        extra = {}
        if kind == "transposed" and "kernel_size" not in options:
            extra["kernel_size"] = kernel_sizes[i]
        layer = build_upsampler(spec, channels[i], channels[i + 1], factor, **extra)
        init_upsampler_(layer, icnr=kind == "subpixel" and bool(options.get("icnr", False)))
        if init == "matched" and kind != "transposed":
            match_gain_(layer, channels[i], factor, kernel_sizes[i])
        layers.append(weight_norm(layer) if use_weight_norm else layer)
    return nn.ModuleList(layers)


def hop_of(factors: Sequence[int]) -> int:
    """Samples per mel frame: the product of the factors."""
    return int(math.prod(factors))


def check_mel(mel: Tensor, n_mels: int, name: str) -> None:
    """Raise ``ValueError`` unless ``mel`` is ``(B, n_mels, N)`` with ``N >= 1``."""
    if mel.dim() != 3 or mel.shape[1] != n_mels or mel.shape[2] < 1:
        raise ValueError(f"{name} expects a mel of shape (B, {n_mels}, frames), got {tuple(mel.shape)}")


class MelGenerator(nn.Module):
    """What the generators share: the input convolution, the upsampling stack, the bookkeeping.

    Subclasses call :meth:`build_trunk` in ``__init__`` and add their residual blocks.
    """

    def build_trunk(self, n_mels: int, sample_rate: int, upsample_factors: Sequence[int],
                    upsample_kernel_sizes: Optional[Sequence[int]], upsample_initial_channel: int,
                    resblock_kernel_sizes: Sequence[int], resblock_dilations: Sequence[Sequence[int]],
                    upsampler: UpsamplerSpec) -> List[int]:
        """Check the arguments, set the attributes, build ``conv_pre`` and ``upsamplers``.

        Returns:
            The channel count before the first and after each upsampler.
        """
        from ..layers import upsampler_label

        factors, kernels = check_factors(upsample_factors, upsample_kernel_sizes)
        if len(resblock_kernel_sizes) != len(resblock_dilations):
            raise ValueError("resblock_kernel_sizes and resblock_dilations need the same length, got "
                             f"{list(resblock_kernel_sizes)} and {[list(d) for d in resblock_dilations]}")
        channels = [upsample_initial_channel // 2 ** i for i in range(len(factors) + 1)]
        if channels[-1] < 1:
            raise ValueError(f"upsample_initial_channel={upsample_initial_channel} is too small for "
                             f"{len(factors)} halvings")
        self.n_mels, self.sample_rate = int(n_mels), int(sample_rate)
        self.upsample_factors, self.upsample_kernel_sizes = factors, kernels
        self.hop_length = hop_of(factors)
        self.upsampler_spec = normalize_spec(upsampler)
        self.upsampler_label = upsampler_label(self.upsampler_spec)
        self.conv_pre = weight_norm_conv(n_mels, channels[0], 7, init=False)
        self.upsamplers = build_upsampling_stack(self.upsampler_spec, channels, factors, kernels)
        return channels

    def remove_weight_norm(self):
        """Fold weight norm into plain weights for inference (in place); returns ``self``."""
        remove_weight_norm_(self)
        return self

    def extra_repr(self) -> str:
        return (f"n_mels={self.n_mels}, sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
                f"factors={self.upsample_factors}, upsampler={self.upsampler_label}")
