"""Per-layer attribution: which upsampler of a generator adds which line.

An upsampler by ``f`` whose input runs at ``r`` samples per second can add a
fixed pattern of period ``f`` to its output: lines at ``k * r``. Forward hooks
record every upsampler's output for one input (a mel, for a vocoder); the
spectrum of each recording, averaged over channels, is measured at that
layer's own predicted lines (``k * r`` up to its output's Nyquist, where no
earlier layer can have put a line). In the final waveform each layer owns the
multiples of its input rate that are not multiples of its output rate.

Rates are known from the recorded lengths: a layer whose output has ``T_l``
samples when the waveform has ``T`` runs at ``sample_rate * T_l / T``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
from torch import Tensor, nn

from .probe import find_upsamplers, layer_factor, to_db
from .spectra import Line, line_prominence, power_spectrum


@dataclass
class LayerTones:
    """Lines measured for one upsampler.

    Attributes:
        name: the module's name in the model.
        factor: its upsampling factor.
        in_rate, out_rate: its input and output sample rates.
        lines: its predicted lines ``k * in_rate`` (``k = 1 .. factor // 2``) in its own output.
        output_lines: the lines it owns, measured in the model's final output.
        tone_db: power in ``lines`` over the layer output's total power.
        prominence_db: the strongest of ``lines`` over its local floor.
        output_prominence_db: mean prominence of ``output_lines``.
        freqs, power: the layer output's spectrum (for plots).
    """

    name: str
    factor: int
    in_rate: float
    out_rate: float
    lines: List[Line]
    output_lines: List[Line]
    tone_db: float
    prominence_db: float
    output_prominence_db: float
    freqs: np.ndarray = field(repr=False, default=None)
    power: np.ndarray = field(repr=False, default=None)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "factor": self.factor, "in_rate": self.in_rate, "out_rate": self.out_rate,
            "tone_db": self.tone_db, "prominence_db": self.prominence_db,
            "output_prominence_db": self.output_prominence_db,
            "lines": [line.to_dict() for line in self.lines],
            "output_lines": [line.to_dict() for line in self.output_lines],
        }


@dataclass
class Attribution:
    """Result of :func:`layer_attribution`: one :class:`LayerTones` per upsampler, in order."""

    sample_rate: float
    layers: List[LayerTones]
    output_freqs: np.ndarray = field(repr=False, default=None)
    output_power: np.ndarray = field(repr=False, default=None)

    @property
    def loudest(self) -> str:
        """Name of the layer whose own lines stand out most (largest ``prominence_db``)."""
        return max(self.layers, key=lambda t: t.prominence_db).name

    @property
    def loudest_in_output(self) -> LayerTones:
        """The layer whose lines stand out most in the final waveform (largest ``output_prominence_db``):
        the one that owns what is heard, which need not be :attr:`loudest` right after the layers."""
        return max(self.layers, key=lambda t: t.output_prominence_db)

    def to_dict(self) -> dict:
        return {"sample_rate": self.sample_rate, "loudest": self.loudest,
                "layers": [t.to_dict() for t in self.layers]}


def _first_tensor(out) -> Tensor:
    while isinstance(out, (list, tuple)):
        out = out[0]
    if not isinstance(out, Tensor):
        raise ValueError(f"the model returned {type(out).__name__}, not a tensor (or a tuple starting with one)")
    return out


def _spectrum(y: Tensor, rate: float, period: int):
    y = y.detach().to("cpu", torch.float64)
    y = y.reshape(-1, y.shape[-1]).numpy()
    edge = (y.shape[-1] // 16) // period * period
    y = y[:, edge:y.shape[-1] - edge]
    y = y[:, : (y.shape[-1] // period) * period]
    return power_spectrum(y, rate)


def layer_attribution(model: nn.Module, inputs: Tensor, sample_rate: Optional[float] = None,
                      max_output_lines: int = 32) -> Attribution:
    """Record every upsampler's output for ``inputs`` and measure its predicted lines.

    Args:
        model: a generator: ``model(inputs)`` returns the waveform ``(B, 1, T)``
            (or a tuple starting with it). Upsamplers are found with
            :func:`.probe.find_upsamplers` (``model.upsamplers`` when present).
        inputs: the model's input, e.g. a mel ``(B, n_mels, N)``.
        sample_rate: the waveform's rate; default ``model.sample_rate``, else 1
            (frequencies then in cycles per output sample).
        max_output_lines: at most this many lines per layer in the final output.

    Returns:
        :class:`Attribution`.

    Raises:
        ValueError: the model has no upsampler.
    """
    found = find_upsamplers(model)
    if not found:
        raise ValueError(f"{type(model).__name__} has no upsampling layer (no .upsamplers, no module with "
                         ".factor, no ConvTranspose1d)")
    if sample_rate is None:
        sample_rate = float(getattr(model, "sample_rate", 1.0) or 1.0)
    records: dict = {}
    handles = [module.register_forward_hook(lambda m, i, o, key=name: records.__setitem__(key, _first_tensor(o)))
               for name, module in found]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            wav = _first_tensor(model(inputs))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = wav.shape[-1]
    out_freqs, out_power = _spectrum(wav, sample_rate, 1)
    layers: List[LayerTones] = []
    for name, module in found:
        if name not in records:
            continue  # not used in this forward pass
        y = records[name]
        factor = layer_factor(module)
        out_rate = sample_rate * y.shape[-1] / total
        in_rate = out_rate / factor
        freqs, power = _spectrum(y, out_rate, factor)
        lines = line_prominence(freqs, power, [k * in_rate for k in range(1, factor // 2 + 1)])
        owned = [k * in_rate for k in range(1, int(sample_rate / 2 / in_rate) + 1) if k % factor != 0]
        output_lines = line_prominence(out_freqs, out_power, owned[:max_output_lines])
        tone = sum(line.power for line in lines)
        layers.append(LayerTones(
            name, factor, in_rate, out_rate, lines, output_lines,
            to_db(tone / float(power.sum())) if power.sum() > 0 else to_db(0.0),
            max((line.prominence_db for line in lines), default=0.0),
            float(np.mean([line.prominence_db for line in output_lines])) if output_lines else 0.0,
            freqs, power))
    return Attribution(sample_rate, layers, out_freqs, out_power)


__all__ = ["Attribution", "LayerTones", "layer_attribution"]
