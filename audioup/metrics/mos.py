"""A no-reference MOS estimate (1..5) from DistillMOS, when it is installed.

DistillMOS (Stahl and Gamper, ICASSP 2025) is a small CNN + transformer distilled from an
XLS-R quality predictor, with its weights inside its wheel, so it runs offline on a CPU. It
scores a 16 kHz waveform on its own, without the recording, which makes it a useful extra
beside PESQ and mel L1: it says how natural a vocoder's output sounds, not how close it is.
It was trained on speech; on music or tones its number means little.

Its wheel depends on ``xls-r-sqa`` and through it on ``transformers``, which DistillMOS does
not use at run time, so audioup asks for it without dependencies::

    pip install --no-deps distillmos xls-r-sqa

A missing package raises :class:`audioup.metrics.MetricUnavailable` (callers record it).
"""
from __future__ import annotations

import contextlib
import io
from functools import lru_cache

import numpy as np

from .reference import MetricUnavailable, _to_16k
from .stationary import _as_numpy

MIN_SECONDS = 1.0  # shorter clips are padded by the model and read too low


@lru_cache(maxsize=1)
def _model():
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints where it loaded its weights from
            from distillmos import ConvTransformerSQAModel
            model = ConvTransformerSQAModel()
    except ImportError as exc:
        raise MetricUnavailable(f"not installed (pip install --no-deps distillmos xls-r-sqa): {exc}") from None
    return model.eval()


def distill_mos(audio, sample_rate: float) -> float:
    """DistillMOS's estimate for ``audio`` ``(T,)`` at ``sample_rate`` (resampled to 16 kHz).

    Raises:
        MetricUnavailable: DistillMOS is not installed, or the clip is silent or under 1 s.
    """
    import torch

    x = _as_numpy(audio).astype(np.float64)
    if len(x) < MIN_SECONDS * sample_rate:
        raise MetricUnavailable(f"DistillMOS needs at least {MIN_SECONDS:g} s")
    if not np.abs(x).max() > 0:
        raise MetricUnavailable("DistillMOS needs speech; the signal is silent")
    model = _model()
    with torch.inference_mode():
        return float(model(torch.from_numpy(_to_16k(x, sample_rate).astype(np.float32))[None])[0])
