"""Drop-in 1D upsampling layers.

Every layer maps ``(B, C_in, T)`` to ``(B, C_out, factor * T)`` exactly,
takes ``(in_channels, out_channels, factor, kernel_size=..., bias=...)`` plus
its own options, and is an :class:`~.base.Upsampler` (its cost and folded kernel).

- :mod:`.transposed`: :class:`TransposedConv1d` (the baseline, with exact lengths).
- :mod:`.resize`: :class:`ResizeConv1d` (nearest/linear/sinc, fast polyphase
  forward) and :class:`SincConv1d`.
- :mod:`.subpixel`: :class:`SubpixelConv1d` with optional ICNR.
- :mod:`.interp`: interpolation tap tables, the Kaiser-windowed sinc.
- :mod:`.registry`: :func:`build_upsampler`, kinds and spec parsing.
- :mod:`.replace`: :func:`replace_upsamplers` for existing models.
"""
from .base import Upsampler
from .interp import kaiser_sinc_filter, interpolation_taps
from .registry import (UPSAMPLER_KINDS, UPSAMPLER_LABELS, build_upsampler, parse_upsampler_spec, upsampler_class,
                       upsampler_label)
from .replace import MatchLength, Replacement, replace_upsamplers
from .resize import ResizeConv1d, SincConv1d
from .subpixel import SubpixelConv1d, icnr_
from .transposed import TransposedConv1d

__all__ = [
    "Upsampler", "UPSAMPLER_KINDS", "UPSAMPLER_LABELS", "build_upsampler", "parse_upsampler_spec", "upsampler_class", "upsampler_label",
    "replace_upsamplers", "Replacement", "MatchLength",
    "TransposedConv1d", "ResizeConv1d", "SincConv1d", "SubpixelConv1d", "icnr_",
    "kaiser_sinc_filter", "interpolation_taps",
]
