"""Layer diagnostics: where the checkerboard comes from.

Each diagnostic is a function on a layer (any upsampler from
:func:`audioup.layers.build_upsampler`, or any ``nn.ConvTranspose1d``, weight
norm or not) or on a model, returning a small dataclass with ``to_dict()``;
:mod:`.plots` draws each result.

- :mod:`.overlap`: taps per output sample over one period, for a kernel and
  stride, a stack of them, or measured on any layer (the uneven-overlap picture).
- :mod:`.checkerboard`: constant input in, periodic (non-DC) energy of the
  output over its mean, in dB, per channel and overall.
- :mod:`.matrix`: the layer as an explicit matrix for one input length.
- :mod:`.frequency`: white-noise and swept-sine responses: lines, images, low-pass.
- :mod:`.attribution`: forward hooks on a generator's upsamplers; the lines
  each one adds at multiples of its input rate.
- :mod:`.position`: the share of each upsampler's output on real input that is one fixed
  pattern repeated at every input sample (a within-frame position code no resize layer makes).
- :mod:`.gradients`: the spectrum of d(output)/d(input) of a discriminator:
  lines from its strided convolutions.
- :mod:`.spectra`: periodogram and line-prominence helpers.
- :mod:`.probe`: factor/channel lookup, float64 probe copies, finding upsamplers.
- :mod:`.plots`: the figures (matplotlib imported when drawing).

The ``audioup analyze`` command that drives them is :mod:`audioup.commands.analyze`.
"""
from .attribution import Attribution, LayerTones, layer_attribution
from .checkerboard import CheckerboardScore, checkerboard_score, format_checkerboard_db
from .frequency import FrequencyResponse, frequency_response, swept_sine
from .gradients import GradientSpectrum, gradient_spectrum, time_strides
from .matrix import LayerMatrix, layer_matrix
from .overlap import OverlapPattern, layer_overlap, overlap_pattern, stack_overlap
from .position import fixed_pattern_share, position_code_shares
from .probe import find_upsamplers

__all__ = [
    "OverlapPattern", "overlap_pattern", "stack_overlap", "layer_overlap",
    "CheckerboardScore", "checkerboard_score", "format_checkerboard_db",
    "LayerMatrix", "layer_matrix",
    "FrequencyResponse", "frequency_response", "swept_sine",
    "Attribution", "LayerTones", "layer_attribution",
    "GradientSpectrum", "gradient_spectrum", "time_strides",
    "fixed_pattern_share", "position_code_shares",
    "find_upsamplers",
]
