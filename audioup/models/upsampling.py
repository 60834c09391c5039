"""The upsampling stack shared by the generators: one layer per factor, built from the layers registry.

A generator's ``upsampler`` argument is anything :func:`audioup.layers.build_upsampler`
accepts (``"transposed"``, ``"resize-linear"``, ``{"kind": "subpixel", "icnr": True}``,
...). Every layer gets the same treatment whatever its kind, so two generators differ only
in the layer's structure:

- weights drawn from HiFi-GAN's N(0, 0.01) (ICNR keeps its equal phases),
- weight normalisation on ``.weight``.

Kernel sizes: ``transposed`` uses the generator's ``upsample_kernel_sizes`` (HiFi-GAN's
16, 16, 4, 4), other kinds their own defaults, unless the spec sets ``kernel_size``
(then every layer uses it).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..layers import build_upsampler, parse_upsampler_spec
from .resblocks import INIT_STD

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


def build_upsampling_stack(upsampler: UpsamplerSpec, channels: Sequence[int], factors: Sequence[int],
                           kernel_sizes: Sequence[int], use_weight_norm: bool = True) -> nn.ModuleList:
    """One upsampler per factor: layer ``i`` maps ``channels[i]`` to ``channels[i + 1]``.

    Args:
        upsampler: a spec for :func:`audioup.layers.build_upsampler` (``None`` = transposed).
        channels: ``len(factors) + 1`` channel counts.
        factors: integer factors.
        kernel_sizes: transposed kernel sizes, one per factor.
        use_weight_norm: wrap each layer's ``weight`` in weight normalisation.
    """
    spec = normalize_spec(upsampler)
    kind, options = parse_upsampler_spec(spec)
    layers: List[nn.Module] = []
    for i, factor in enumerate(factors):
        extra = {}
        if kind == "transposed" and "kernel_size" not in options:
            extra["kernel_size"] = kernel_sizes[i]
        layer = build_upsampler(spec, channels[i], channels[i + 1], factor, **extra)
        init_upsampler_(layer, icnr=kind == "subpixel" and bool(options.get("icnr", False)))
        layers.append(weight_norm(layer) if use_weight_norm else layer)
    return nn.ModuleList(layers)


def hop_of(factors: Sequence[int]) -> int:
    """Samples per mel frame: the product of the factors."""
    return int(math.prod(factors))
