"""Generators by name, and the spec a checkpoint stores to rebuild one.

``build_generator("hifigan", preset="v1", upsampler="resize-linear")`` builds a network;
:func:`generator_config` expands a preset into the plain ``{"name", "kwargs"}`` spec that a
checkpoint saves with the weights, and :func:`build_generator_from` rebuilds from it (no
training code needed).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

import inspect

from torch import nn

from .bigvgan import BigVGAN, bigvgan_preset
from .hifigan import HiFiGAN, hifigan_preset
from .istftnet import ISTFTNet, istftnet_preset
from .vocos import Vocos, vocos_preset

GENERATORS: Dict[str, type] = {"hifigan": HiFiGAN, "bigvgan": BigVGAN, "istftnet": ISTFTNet, "vocos": Vocos}
PRESETS: Dict[str, Callable[[str], Dict[str, Any]]] = {"hifigan": hifigan_preset, "bigvgan": bigvgan_preset,
                                                       "istftnet": istftnet_preset, "vocos": vocos_preset}


def build_generator(name: str, preset: Optional[str] = None, **kwargs: Any) -> nn.Module:
    """Build a generator; ``preset``'s arguments are merged under the explicit ``kwargs``.

    Args:
        name: ``"hifigan"``, ``"bigvgan"``, ``"istftnet"`` or ``"vocos"``.
        preset: e.g. ``"v1"``, ``"v2"``, ``"v3"``, ``"tiny"`` (HiFi-GAN, iSTFTNet), ``"base"``,
            ``"tiny"`` (BigVGAN, Vocos).
        **kwargs: constructor arguments (``upsampler``, ``n_mels``, ``upsample_factors``, ...).

    Raises:
        ValueError: unknown generator, preset or argument.
    """
    key, args = _merge_preset(name, preset, kwargs)
    try:
        return GENERATORS[key](**args)
    except TypeError as err:  # an unknown keyword: name the generator and the problem
        raise ValueError(f"bad arguments for generator {name!r}: {err}") from None


def _merge_preset(name: str, preset: Optional[str], kwargs: Mapping[str, Any]):
    """``(key, arguments)``: the preset's constructor arguments with ``kwargs`` over them (the one merge)."""
    key = str(name).lower().replace("-", "")
    if key not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; known: {', '.join(GENERATORS)}")
    args = PRESETS[key](preset) if preset else {}
    args.update(kwargs)
    return key, args


def has_upsamplers(name: str) -> bool:
    """Whether generator ``name`` takes an ``upsampler`` kind (Vocos has none: its iSTFT is fixed)."""
    key = str(name).lower().replace("-", "")
    return key in GENERATORS and "upsampler" in inspect.signature(GENERATORS[key]).parameters


def plain(value):
    """``value`` with tuples turned into lists and dict keys into strings (YAML/checkpoint-safe)."""
    if isinstance(value, (list, tuple)):
        return [plain(x) for x in value]
    if isinstance(value, dict):
        return {str(k): plain(x) for k, x in value.items()}
    return value


def generator_config(name: str, preset: Optional[str] = None, kwargs: Optional[Mapping[str, Any]] = None,
                     upsampler: Any = None, **fixed: Any) -> Dict[str, Any]:
    """``{"name", "kwargs"}`` with the preset expanded, so a checkpoint rebuilds the generator alone.

    Args:
        name: generator name; preset: its preset (``None``: constructor defaults).
        kwargs: arguments over the preset's; upsampler: the spec (``None`` keeps the preset's).
        **fixed: set last (``sample_rate``, ``n_mels``).

    Raises:
        ValueError: unknown generator or preset (the message says which).
    """
    key, args = _merge_preset(name, preset, kwargs or {})
    if upsampler is not None:
        if not has_upsamplers(key):
            raise ValueError(f"generator {key!r} has no upsampling layers to choose (its one upsampling "
                             f"stage is an inverse STFT); set model.upsampler: null, not {upsampler!r}")
        args["upsampler"] = upsampler
    args.update(fixed)
    return {"name": key, "kwargs": plain(args)}


def build_generator_from(config: Mapping[str, Any], weights_follow: bool = False) -> nn.Module:
    """Rebuild a generator from a :func:`generator_config` spec (e.g. one saved in a checkpoint).

    ``weights_follow=True``: the caller loads weights next, so the upsamplers' level
    calibration (seconds for a full-size model, see :mod:`.upsampling`) is skipped; the
    parameters are the same, only their initial values differ.
    """
    kwargs = dict(config["kwargs"])
    if weights_follow and has_upsamplers(config["name"]):
        kwargs["upsampler_init"] = "hifigan"
    return build_generator(config["name"], **kwargs)
