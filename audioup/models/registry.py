"""Generators by name: ``build_generator("hifigan", preset="v1", upsampler="resize-linear")``."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from torch import nn

from .bigvgan import BigVGAN, bigvgan_preset
from .hifigan import HiFiGAN, hifigan_preset

GENERATORS: Dict[str, type] = {"hifigan": HiFiGAN, "bigvgan": BigVGAN}
PRESETS: Dict[str, Callable[[str], Dict[str, Any]]] = {"hifigan": hifigan_preset, "bigvgan": bigvgan_preset}


def build_generator(name: str, preset: Optional[str] = None, **kwargs: Any) -> nn.Module:
    """Build a generator; ``preset``'s arguments are merged under the explicit ``kwargs``.

    Args:
        name: ``"hifigan"`` or ``"bigvgan"``.
        preset: e.g. ``"v1"``, ``"v2"``, ``"v3"``, ``"tiny"`` (HiFi-GAN), ``"base"``, ``"tiny"`` (BigVGAN).
        **kwargs: constructor arguments (``upsampler``, ``n_mels``, ``upsample_factors``, ...).

    Raises:
        ValueError: unknown generator, preset or argument.
    """
    key = str(name).lower().replace("-", "")
    if key not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; known: {', '.join(GENERATORS)}")
    args = PRESETS[key](preset) if preset is not None else {}
    args.update(kwargs)
    try:
        return GENERATORS[key](**args)
    except TypeError as err:  # an unknown keyword: name the generator and the problem
        raise ValueError(f"bad arguments for generator {name!r}: {err}") from None
