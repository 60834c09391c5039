"""Build an upsampler by name: ``build_upsampler("resize", 512, 256, factor=8, mode="linear")``.

Kinds: ``transposed``, ``resize`` (``mode`` nearest/linear), ``subpixel``
(``icnr``), ``sinc``. Short spellings used in configs and on the command
line: ``resize-nearest``, ``resize-linear``, ``subpixel-icnr``.

The words, each for one thing, everywhere in audioup:

- **kind**: a registered upsampler class's name (a key of :data:`UPSAMPLER_KINDS`).
- **alias**: another name that stands for a kind with fixed options (:data:`ALIASES`).
- **spec**: what a config or caller gives to choose an upsampler: a kind, an alias, or a
  mapping with ``kind`` and options (:data:`UpsamplerSpec`). A generator's own
  ``{"name", "kwargs"}`` is its *config*, never a spec.
- **label**: the short readable name of a spec (:func:`upsampler_label`, one of
  :data:`UPSAMPLER_LABELS`), used in tables, help texts and folder names.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Tuple, Union

from torch import nn

from .resize import ResizeConv1d, SincConv1d
from .subpixel import SubpixelConv1d
from .transposed import TransposedConv1d

UPSAMPLER_KINDS: Dict[str, type] = {
    "transposed": TransposedConv1d,
    "resize": ResizeConv1d,
    "subpixel": SubpixelConv1d,
    "sinc": SincConv1d,
}

ALIASES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "resize-nearest": ("resize", {"mode": "nearest"}),
    "resize-linear": ("resize", {"mode": "linear"}),
    "subpixel-icnr": ("subpixel", {"icnr": True}),
    "nearest": ("resize", {"mode": "nearest"}),
    "linear": ("resize", {"mode": "linear"}),
}

UpsamplerSpec = Union[str, Mapping[str, Any]]

# Every distinct configuration by its short name (what upsampler_label returns): the one list
# that commands, help texts and comparisons draw from.
UPSAMPLER_LABELS: Tuple[str, ...] = ("transposed", "resize-nearest", "resize-linear", "subpixel", "subpixel-icnr",
                                     "sinc")


def parse_upsampler_spec(spec: UpsamplerSpec) -> Tuple[str, Dict[str, Any]]:
    """``"resize-linear"`` or ``{"kind": "resize", "mode": "linear"}`` -> ``("resize", {"mode": "linear"})``."""
    if isinstance(spec, str):
        kind, options = spec, {}
    elif isinstance(spec, Mapping):
        options = dict(spec)
        if "kind" not in options:
            raise ValueError(f"upsampler spec {dict(spec)!r} has no 'kind'")
        kind = options.pop("kind")
    else:
        raise ValueError(f"upsampler spec must be a name or a mapping with 'kind', got {spec!r}")
    kind = str(kind).lower().replace("_", "-")
    if kind in ALIASES:
        base, extra = ALIASES[kind]
        _check_alias(kind, options)
        kind, options = base, {**extra, **options}
    if kind not in UPSAMPLER_KINDS:
        known = sorted(UPSAMPLER_KINDS) + sorted(ALIASES)
        raise ValueError(f"unknown upsampler kind {kind!r}; known: {', '.join(known)}")
    return kind, options


def _check_alias(alias: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` when an option contradicts what the alias means (``resize-linear``, ``mode="nearest"``)."""
    for key, value in ALIASES[alias][1].items():
        if key in options and options[key] != value:
            raise ValueError(f"upsampler {alias!r} means {key}={value!r}, which contradicts {key}={options[key]!r}")


def upsampler_class(spec: UpsamplerSpec) -> type:
    """The class a spec builds (its :class:`~.base.Upsampler` attributes say how the kind is treated)."""
    return UPSAMPLER_KINDS[parse_upsampler_spec(spec)[0]]


def upsampler_label(spec: UpsamplerSpec) -> str:
    """Short readable name of a spec, e.g. ``resize-linear`` or ``subpixel-icnr``."""
    kind, options = parse_upsampler_spec(spec)
    if kind == "resize":
        return f"resize-{options.get('mode', 'nearest')}"
    if kind == "subpixel" and options.get("icnr"):
        return "subpixel-icnr"
    return kind


def build_upsampler(kind: UpsamplerSpec, in_channels: int, out_channels: int, factor: int,
                    **options: Any) -> nn.Module:
    """Build one upsampling layer.

    Args:
        kind: a kind name, alias or spec mapping (see module docstring).
        in_channels, out_channels, factor: as for every upsampler.
        **options: the kind's own options (``kernel_size``, ``bias``, ``mode``,
            ``pad_mode``, ``icnr``, ...); they override those in a spec mapping, but
            may not contradict an alias (``"resize-linear"`` with ``mode="nearest"`` raises).

    Raises:
        ValueError: unknown kind, unknown option, an option that contradicts the alias,
            or bad argument values.
    """
    name, spec_options = parse_upsampler_spec(kind)
    alias = kind.get("kind") if isinstance(kind, Mapping) else kind
    alias = str(alias).lower().replace("_", "-")
    if alias in ALIASES:
        _check_alias(alias, options)
    options = {**spec_options, **options}
    cls = UPSAMPLER_KINDS[name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "in_channels", "out_channels", "factor"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"upsampler {name!r} does not take option(s) {unknown}; it takes {sorted(accepted)}")
    return cls(in_channels, out_channels, factor, **options)
