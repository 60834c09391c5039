"""Artifacts in gradients: what a discriminator's gradient paints on a waveform.

The gradient of a strided convolution with respect to its input is a
transposed convolution of the upstream gradient (Odena et al. 2016): with
stride ``s`` it repeats a kernel every ``s`` samples, so the gradient a
discriminator sends to a generator carries lines at multiples of
``sample_rate / s``. A generator trained on it can learn those lines.

:func:`gradient_spectrum` averages, over noise inputs, the spectrum of
``d(score)/d(input)`` where the score is the sum of all the model's outputs
(for the :mod:`audioup.models` discriminators, every logit map), and
measures the lines of each stride it finds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..audio.db import relative_db
from .spectra import Line, line_prominence, power_spectrum


@dataclass
class GradientSpectrum:
    """Result of :func:`gradient_spectrum`.

    Attributes:
        sample_rate: the input's rate (frequencies in its unit).
        strides: the time strides whose lines were measured.
        lines: per stride, its lines ``k * sample_rate / stride`` (``k = 1 .. stride // 2``, at most ``max_lines``).
        prominence_db: per stride, the mean prominence of its lines.
        freqs, power_db: the averaged gradient spectrum.
    """

    sample_rate: float
    strides: List[int]
    lines: Dict[int, List[Line]]
    prominence_db: Dict[int, float]
    freqs: np.ndarray = field(repr=False, default=None)
    power_db: np.ndarray = field(repr=False, default=None)

    def to_dict(self) -> dict:
        return {"sample_rate": self.sample_rate, "strides": self.strides,
                "prominence_db": {str(s): v for s, v in self.prominence_db.items()},
                "lines": {str(s): [line.to_dict() for line in v] for s, v in self.lines.items()}}


def time_strides(model: nn.Module) -> List[int]:
    """Strides > 1 along time, in input samples, cumulated along each chain of convolutions.

    A stride-``s2`` layer after a stride-``s1`` layer repeats every ``s1 * s2``
    input samples, so within each container (the convolutions that share a
    parent module, taken in order: one sub-discriminator's stack) the
    running products are returned. ``Conv1d`` strides count as they are;
    ``Conv2d`` strides along the first axis count only inside a module with an
    integer ``period`` (a period discriminator folds the waveform into rows of
    ``period`` samples, so a row stride ``s`` is ``s * period`` samples).
    Sorted, unique. Pooling is not followed: pass ``strides`` yourself there.
    """
    periods = {name: m.period for name, m in model.named_modules() if isinstance(getattr(m, "period", None), int)}
    strides = set()
    for name, parent in model.named_modules():
        owners = [p for p in periods if name == p or name.startswith(p + ".") or p == ""]
        period = periods[max(owners, key=len)] if owners else None
        chain = 1
        for child in parent.children():
            if isinstance(child, nn.Conv1d) and child.stride[0] > 1:
                chain *= child.stride[0]
                strides.add(chain)
            elif isinstance(child, nn.Conv2d) and period and child.stride[0] > 1:
                chain *= child.stride[0]
                strides.add(chain * period)
    if isinstance(model, nn.Conv1d) and model.stride[0] > 1:
        strides.add(model.stride[0])
    return sorted(strides)


def _score(out) -> Tensor:
    if isinstance(out, Tensor):
        return out.sum()
    if isinstance(out, (list, tuple)) and out:
        first = out[0]
        if isinstance(first, (list, tuple)):  # (logits, features): score the logits only
            return sum(_score(t) for t in first)
        return sum(_score(t) for t in out)
    raise ValueError(f"cannot make a score of a model output of type {type(out).__name__}")


def gradient_spectrum(model: nn.Module, length: int = 8192, sample_rate: float = 1.0,
                      strides: Optional[Sequence[int]] = None, trials: int = 4, seed: int = 0,
                      max_lines: int = 32) -> GradientSpectrum:
    """Spectrum of the gradient of a model's output with respect to a noise input.

    Args:
        model: takes ``(B, 1, T)`` waveforms; returns a tensor, a list of them,
            or ``(logits, features)``.
        length: input samples (use a multiple of the strides, so the lines fall on bins).
        sample_rate: the input's rate.
        strides: the strides to measure; default :func:`time_strides` of the model.
        trials: noise inputs averaged (one batch).
        seed: noise seed.
        max_lines: measure at most the first ``max_lines`` lines of each stride.

    Returns:
        :class:`GradientSpectrum`. The model's parameters are not changed and get no ``.grad``.
    """
    strides = list(strides) if strides is not None else time_strides(model)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    gen = torch.Generator().manual_seed(seed)
    x = (0.1 * torch.randn(trials, 1, length, generator=gen)).to(device=device, dtype=dtype).requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        (grad,) = torch.autograd.grad(_score(model(x)), [x])
    finally:
        model.train(was_training)
    g = grad.detach().to("cpu", torch.float64).reshape(trials, -1).numpy()
    freqs, power = power_spectrum(g, sample_rate)
    lines = {s: line_prominence(freqs, power, [k * sample_rate / s for k in range(1, min(s // 2, max_lines) + 1)])
             for s in strides}
    prominence = {s: float(np.mean([line.prominence_db for line in v])) if v else 0.0 for s, v in lines.items()}
    return GradientSpectrum(sample_rate, strides, lines, prominence, freqs, relative_db(power))


__all__ = ["GradientSpectrum", "gradient_spectrum", "time_strides"]
