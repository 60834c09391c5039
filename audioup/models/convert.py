"""Convert a trained generator's transposed upsamplers to another kind, keeping what fits.

:func:`convert_generator` takes what :func:`audioup.models.checkpoint.read_generator`
returns (an audioup checkpoint, an official HiFi-GAN file, a pretrained name), replaces the
chosen transposed layers (all of them, or those given by index) with the new kind started
at the least-squares closest tied kernel (:func:`audioup.layers.project.project_layer`,
bias kept), and returns the generator spec and weights of the converted network, which
:func:`audioup.models.registry.build_generator_from` rebuilds (so the result is an ordinary
checkpoint for inference and fine-tuning). Every other weight is copied unchanged.

Each layer may get its own kernel length: a longer resize kernel keeps more of the trained
one (on HiFi-GAN V1 Universal's first x8 layer the residual falls from 30 % at 9 taps to
about 7 % at 65), at the cost of more multiplies in that layer.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..layers import Replacement, parse_upsampler_spec, upsampler_class, upsampler_label
from ..layers.project import project_layer
from .registry import build_generator_from
from .upsampling import layer_specs

KernelSizes = Union[None, int, Sequence[Optional[int]], Mapping[int, int]]


def converted_config(generator_config: Dict[str, Any], kind: Any, layers: Optional[Sequence[int]] = None,
                     kernel_sizes: KernelSizes = None) -> Dict[str, Any]:
    """``generator_config`` with the upsamplers of ``layers`` (default: all) replaced by ``kind``.

    Args:
        kind: a kind name or spec mapping (``"resize-nearest"``, ``{"kind": "sinc"}``).
        layers: indices of the layers to replace; ``None``: every layer.
        kernel_sizes: ``None`` (the kind's default, or the spec's ``kernel_size``), one
            length for every replaced layer, or one per layer (a sequence over all layers,
            or a mapping from index to length).

    The spec stays a single one when every layer ends up the same, so a recipe with
    ``model.upsampler: KIND`` matches the converted checkpoint; otherwise it becomes a
    per-layer list (:func:`audioup.models.upsampling.layer_specs`).

    Raises:
        ValueError: unknown kind, a layer index out of range, a kernel length below 1.
    """
    kind_name, options = parse_upsampler_spec(kind)  # unknown kinds raise ValueError here
    kwargs = dict(generator_config["kwargs"])
    factors = kwargs.get("upsample_factors") or (8, 8, 2, 2)
    old = layer_specs(kwargs.get("upsampler"), len(factors))
    chosen = list(range(len(old))) if layers is None else sorted(set(int(i) for i in layers))
    bad = [i for i in chosen if not 0 <= i < len(old)]
    if bad:
        raise ValueError(f"layer index {bad[0]} is out of range: this generator has {len(old)} upsampling layers "
                         f"(0..{len(old) - 1})")
    new = list(old)
    for i in chosen:
        size = _kernel_for(kernel_sizes, i)
        spec = dict(kind) if isinstance(kind, Mapping) else kind
        if size is not None:
            if size < 1:
                raise ValueError(f"kernel size {size} for layer {i} must be >= 1")
            spec = {"kind": kind_name, **options, "kernel_size": int(size)}
        new[i] = spec
    kwargs["upsampler"] = new[0] if all(s == new[0] for s in new) else new
    return {**generator_config, "kwargs": kwargs}


def _kernel_for(kernel_sizes: KernelSizes, index: int) -> Optional[int]:
    if kernel_sizes is None or isinstance(kernel_sizes, int):
        return kernel_sizes
    if isinstance(kernel_sizes, Mapping):
        return kernel_sizes.get(index)
    return kernel_sizes[index] if index < len(kernel_sizes) else None


def transposed_layers(generator_config: Dict[str, Any]) -> List[int]:
    """Indices of the generator's layers of the reference kind (``Upsampler.REFERENCE``: transposed),
    the ones :func:`convert_generator` can replace."""
    kwargs = generator_config["kwargs"]
    factors = kwargs.get("upsample_factors") or (8, 8, 2, 2)
    return [i for i, s in enumerate(layer_specs(kwargs.get("upsampler"), len(factors)))
            if upsampler_class(s).REFERENCE]


def convert_generator(source: Dict[str, Any], kind: Any, layers: Optional[Sequence[int]] = None,
                      kernel_sizes: KernelSizes = None) -> Tuple[Dict[str, Any], Dict[str, Any], List[Replacement]]:
    """Project a trained generator's transposed layers (all, or ``layers``) onto ``kind``.

    Args:
        source: ``{"generator_config", "generator"}`` (see :func:`~.checkpoint.read_generator`).
        kind: the new upsampler kind or spec, e.g. ``"resize-nearest"`` or
            ``{"kind": "resize-linear", "kernel_size": 9}``.
        layers: indices to replace (default: every layer; each must be transposed).
        kernel_sizes: see :func:`converted_config`.

    Returns:
        ``(generator_config, state_dict, replacements)`` of the converted generator, one
        replacement per replaced layer (``name`` is its index); ``residual_energy`` is the
        share of that layer's kernel energy the new kind cannot represent.

    Raises:
        ValueError: a chosen layer is not transposed, or the kind cannot be projected.
    """
    config = converted_config(source["generator_config"], kind, layers, kernel_sizes)
    before = transposed_layers(source["generator_config"])
    factors = source["generator_config"]["kwargs"].get("upsample_factors") or (8, 8, 2, 2)
    chosen = list(range(len(factors))) if layers is None else sorted(set(int(i) for i in layers))
    not_transposed = [i for i in chosen if i not in before]
    if not_transposed:
        old = layer_specs(source["generator_config"]["kwargs"].get("upsampler"), len(factors))
        raise ValueError(f"only transposed upsamplers can be converted; layer {not_transposed[0]} is "
                         f"{upsampler_label(old[not_transposed[0]])}")
    generator = build_generator_from(source["generator_config"])
    generator.load_state_dict(source["generator"])
    target = build_generator_from(config)
    prefixes = tuple(f"upsamplers.{i}." for i in chosen)
    kept = {k: v for k, v in generator.state_dict().items() if not k.startswith(prefixes)}
    missing, unexpected = target.load_state_dict(kept, strict=False)
    if unexpected or any(not k.startswith(prefixes) for k in missing):
        raise ValueError(f"the converted generator does not match the source outside the replaced layers "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    swaps = []
    for i in chosen:
        old, new = generator.upsamplers[i], target.upsamplers[i]
        projection = project_layer(old, new)
        swaps.append(Replacement(str(i), _describe(old), _describe(new), 0, True, projection.residual_energy))
    return config, target.state_dict(), swaps


def _describe(module) -> str:
    return f"{type(module).__name__}({module.extra_repr()})".replace("Parametrized", "")
