"""Convert a trained generator's transposed upsamplers to another kind, keeping what fits.

:func:`convert_generator` takes what :func:`audioup.models.checkpoint.read_generator`
returns (an audioup checkpoint, an official HiFi-GAN file, a pretrained name), swaps every
transposed layer with :func:`audioup.layers.replace_upsamplers` (``init="project"``: the
least-squares closest tied kernel, bias kept) and returns the generator spec and weights of
the converted network, which :func:`audioup.models.registry.build_generator_from` rebuilds
(so the result is an ordinary checkpoint for inference and fine-tuning).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

from ..layers import Replacement, parse_upsampler_spec, replace_upsamplers, upsampler_label
from .registry import build_generator_from


def converted_config(generator_config: Dict[str, Any], kind: Any) -> Dict[str, Any]:
    """``generator_config`` with its upsampler spec replaced by ``kind`` (a name or spec mapping)."""
    parse_upsampler_spec(kind)  # unknown kinds raise ValueError here
    out = copy.deepcopy(dict(generator_config))
    out["kwargs"] = dict(out["kwargs"])
    out["kwargs"]["upsampler"] = kind if isinstance(kind, str) else dict(kind)
    return out


def convert_generator(source: Dict[str, Any], kind: Any) -> Tuple[Dict[str, Any], Dict[str, Any], List[Replacement]]:
    """Project a trained generator's transposed layers onto ``kind``.

    Args:
        source: ``{"generator_config", "generator"}`` (see :func:`~.checkpoint.read_generator`);
            its upsamplers must be ``transposed``.
        kind: the new upsampler kind or spec, e.g. ``"resize-nearest"`` or
            ``{"kind": "resize-linear", "kernel_size": 9}`` (every layer gets the same options).

    Returns:
        ``(generator_config, state_dict, replacements)`` of the converted generator;
        ``replacements[i].residual_energy`` is the share of layer ``i``'s kernel energy that
        the new kind cannot represent.

    Raises:
        ValueError: the source's upsamplers are not transposed, or the kind cannot be projected.
    """
    old_spec = source["generator_config"]["kwargs"].get("upsampler", "transposed")
    if upsampler_label(old_spec or "transposed") != "transposed":
        raise ValueError(f"only transposed upsamplers can be converted; this generator has "
                         f"{upsampler_label(old_spec)}")
    generator = build_generator_from(source["generator_config"], weights_follow=True)
    generator.load_state_dict(source["generator"])
    kind_name, options = parse_upsampler_spec(kind)
    config = converted_config(source["generator_config"], kind)
    swaps = replace_upsamplers(generator.upsamplers, {"kind": kind_name, **options}, init="project")
    target = build_generator_from(config, weights_follow=True)
    target.load_state_dict(generator.state_dict())  # same structure: the spec rebuilds it
    return config, target.state_dict(), swaps
