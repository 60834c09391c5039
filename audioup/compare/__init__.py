"""``compare_upsamplers``: the same vocoder trained with each upsampler kind, side by side.

This is the experiment of Pons et al. (ICASSP 2021) in audio: one recipe, one
seed, one number of steps, only ``model.upsampler`` changing; every kind is
evaluated at initialisation and after training on the same test clips.

Modules:
    runner    one run per kind through :func:`audioup.train.loop.train`, a
              resumable comparison folder (:func:`compare_upsamplers`).
    kinds     one training config per kind (an upsampler, or an iSTFT generator).
    stages    what is evaluated: a number of steps, or a training-time budget.
    evaluate  vocode a test set with one generator and measure it with
              :mod:`audioup.metrics`; time generators side by side.
    report    ``report.md``: tables, captions, the limits of a run.
    plots     stationary spectra per kind, per-layer tonal breakdown.
    plan, conversion, from_pretrained
              a released vocoder converted layer by layer (``audioup convert``) and
              the comparison from that pretrained start (``audioup compare --from``).
"""
from .runner import KINDS, CompareError, Comparison, compare_upsamplers

__all__ = ["KINDS", "CompareError", "Comparison", "compare_upsamplers"]
