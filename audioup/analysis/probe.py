"""Helpers shared by the diagnostics: find a layer's factor and channels, copy it for probing, find upsamplers."""
from __future__ import annotations

import copy
from typing import List, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..audio.db import DB_FLOOR, to_db  # noqa: F401 (the diagnostics' dB helpers live in audio.db)


def _inner(module: nn.Module) -> nn.Module:
    """Look through wrappers that keep the layer in ``.upsampler`` (e.g. ``MatchLength``)."""
    while not hasattr(module, "factor") and not isinstance(module, nn.ConvTranspose1d) \
            and isinstance(getattr(module, "upsampler", None), nn.Module):
        module = module.upsampler
    return module


def layer_factor(layer: nn.Module) -> int:
    """The upsampling factor: ``.factor``, or the stride of an ``nn.ConvTranspose1d``.

    Raises:
        ValueError: the module is neither.
    """
    inner = _inner(layer)
    factor = getattr(inner, "factor", None)
    if factor is None and isinstance(inner, nn.ConvTranspose1d):
        factor = inner.stride[0]
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"{type(layer).__name__} is not an upsampling layer: it has no integer .factor "
                         "and is not an nn.ConvTranspose1d")
    return factor


def layer_in_channels(layer: nn.Module) -> int:
    """Input channel count (``.in_channels``, else read from the weight's shape)."""
    inner = _inner(layer)
    if isinstance(getattr(inner, "in_channels", None), int):
        return inner.in_channels
    weight = getattr(inner, "weight", None)
    if isinstance(weight, Tensor) and weight.dim() == 3:
        return weight.shape[0] if isinstance(inner, nn.ConvTranspose1d) else weight.shape[1]
    raise ValueError(f"cannot tell the input channels of {type(layer).__name__}: no .in_channels or 3D .weight")


def plain_copy(layer: nn.Module, dtype: torch.dtype = torch.float64) -> nn.Module:
    """A float64 (by default), CPU, eval-mode copy with weight norm folded into a plain ``.weight``."""
    probe = copy.deepcopy(_inner(layer)).to(device="cpu", dtype=dtype).eval()
    for module in list(probe.modules()):
        if parametrize.is_parametrized(module):
            # Not parametrize.remove_parametrizations: the copy shares its dynamic
            # "Parametrized..." class with the original, and removing deletes the
            # property from that class, breaking the original layer.
            with torch.no_grad():
                values = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
            module.__class__ = type(module).__bases__[0]
            del module._modules["parametrizations"]
            for name, value in values.items():
                module.register_parameter(name, nn.Parameter(value))
        if hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            torch.nn.utils.remove_weight_norm(module)
    for p in probe.parameters():
        p.requires_grad_(False)
    return probe


def is_upsampler(module: nn.Module) -> bool:
    return isinstance(module, nn.ConvTranspose1d) or isinstance(getattr(module, "factor", None), int)


def find_upsamplers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The model's upsampling layers in order, as ``(name, module)``.

    Uses ``model.upsamplers`` (the :mod:`audioup.models` generators) when
    present; otherwise every outermost module with an integer ``.factor`` or
    that is an ``nn.ConvTranspose1d`` (modules inside a found one are skipped).
    """
    names = {id(m): n for n, m in model.named_modules()}
    ups = getattr(model, "upsamplers", None)
    if isinstance(ups, (nn.ModuleList, list, tuple)) and len(ups) > 0:
        return [(names.get(id(m), f"upsamplers.{i}"), m) for i, m in enumerate(ups)]
    found: List[Tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if module is model or not is_upsampler(module):
            continue
        if any(name.startswith(prev + ".") for prev, _ in found):
            continue
        found.append((name, module))
    return found


def impulse_support(layer: nn.Module, length: int = 64) -> int:
    """Output samples touched by one input sample (the layer's footprint), measured.

    The layer must be linear plus a bias (every upsampler is); the bias is
    removed by subtracting the response to zeros.
    """
    c_in = layer_in_channels(layer)
    x = torch.zeros(1, c_in, length, dtype=torch.float64)
    with torch.no_grad():
        y0 = layer(x)
        x[:, :, length // 2] = 1.0
        y = layer(x) - y0
    nz = torch.nonzero(y.abs().amax(dim=(0, 1)) > 0).flatten()
    return int(nz[-1] - nz[0] + 1) if nz.numel() else 1
