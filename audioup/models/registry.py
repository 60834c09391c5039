"""Generators by name, and the config a checkpoint stores to rebuild one.

``build_generator("hifigan", preset="v1", upsampler="resize-linear")`` builds a network;
:func:`generator_config` expands a preset into the plain ``{"name", "kwargs"}`` config that a
checkpoint saves with the weights, and :func:`build_generator_from` rebuilds from it (no
training code needed).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Mapping, Optional

import inspect

import torch
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


def build_generator_from(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a generator from a :func:`generator_config` spec (e.g. one saved in a checkpoint).

    Cheap: a new run's level calibration is a separate step
    (:func:`~audioup.models.upsampling.calibrate_levels_`).

    Raises:
        ValueError: a malformed spec, bad arguments, or a generator too large to build
            (:func:`check_generator_size`, checked before any weight is allocated).
    """
    check_generator_size(config)
    return build_generator(config["name"], **dict(config["kwargs"]))


# ----------------------------------------------------------------------------- sizes

# Bounds far above every published vocoder (HiFi-GAN V1: 14 M parameters, 512 channels,
# kernels up to 16; BigVGAN-v2: 112 M, 1536 channels), far below what exhausts memory.
MAX_PARAMETERS = 300_000_000       # 1.2 GB of float32 weights (about 5 GB with Adam's states)
MAX_CHANNELS = 8192
MAX_KERNEL = 1024                  # any kernel size, dilation or upsampling factor
MAX_LIST = 64                      # entries of any list argument (stages, kernels, dilations)
MAX_N_FFT = 1 << 16                # mel front end (HiFi-GAN: 1024, BigVGAN: up to 2048)


def parameter_count(build: Callable[[], nn.Module]) -> int:
    """Parameters and buffers of the module ``build()`` makes, counted on the ``meta``
    device: shapes only, nothing allocated (a 7-billion-parameter model counts in a second)."""
    with torch.device("meta"):
        module = build()
    return sum(t.numel() for t in module.parameters()) + sum(t.numel() for t in module.buffers())


def check_size(count: int, what: str, hint: str = "") -> None:
    """Raise ``ValueError`` naming ``what`` when ``count`` parameters exceed :data:`MAX_PARAMETERS`."""
    if count > MAX_PARAMETERS:
        raise ValueError(f"{what} would have {count:,} parameters ({4 * count / 2 ** 30:.1f} GiB as float32), "
                         f"more than the limit of {MAX_PARAMETERS:,}{hint}")


def _check_numbers(value: Any, key: str) -> None:
    """Bound every number and list inside one constructor argument (the key names it)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_numbers(v, f"{key}.{k}")
        return
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_LIST:
            raise ValueError(f"{key} has {len(value):,} entries (at most {MAX_LIST})")
        for v in value:
            _check_numbers(v, key)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} must be finite (got {value})")
    name = key.rsplit(".", 1)[-1]
    limit = MAX_CHANNELS if "channel" in name else 1024 if name == "n_mels" else \
        MAX_KERNEL if any(w in name for w in ("kernel", "dilation", "factor", "zeros")) else None
    if limit is not None and abs(value) > limit:
        raise ValueError(f"{key} = {value:,} is too large (at most {limit:,})")


def check_generator_size(config: Mapping[str, Any]) -> int:
    """The parameter count of the generator a :func:`generator_config` spec builds, checked
    before building: the one size check for configs (training) and checkpoints (every reader).

    Every channel count, kernel size, dilation, factor and list length is bounded first
    (naming the key), then the whole network is counted on the ``meta`` device
    (:func:`parameter_count`) and refused above :data:`MAX_PARAMETERS`.

    Raises:
        ValueError: a malformed spec or a size beyond the bounds (the message names the key).
    """
    if not isinstance(config, Mapping) or not isinstance(config.get("kwargs"), Mapping) \
            or not isinstance(config.get("name"), str):
        raise ValueError(f"generator spec must be a mapping with 'name' (a string) and 'kwargs' "
                         f"(a mapping), got {type(config).__name__}")
    for key, value in config["kwargs"].items():
        _check_numbers(value, str(key))
    kwargs = {**config["kwargs"], **({"upsampler_init": "hifigan"} if has_upsamplers(config["name"]) else {})}
    try:
        count = parameter_count(lambda: build_generator(config["name"], **kwargs))
    except (RuntimeError, NotImplementedError):
        # an upsampler that computes its taps at construction cannot be built on ``meta``: count
        # the same network with transposed layers of the same kernel (an upper bound for it)
        spec = kwargs.get("upsampler", "transposed")
        kernel = spec.get("kernel_size") if isinstance(spec, Mapping) else None
        kwargs["upsampler"] = {"kind": "transposed"}
        factors = [int(f) for f in kwargs.get("upsample_factors", ()) or ()]
        if kernel is not None:
            kwargs["upsample_kernel_sizes"] = [max(int(kernel), f) for f in factors]
        count = parameter_count(lambda: build_generator(config["name"], **kwargs))
    check_size(count, "the generator", " (lower upsample_initial_channel or the kernel sizes)")
    return count
