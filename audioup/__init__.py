"""audioup: upsampling without tonal artifacts, for neural audio.

Transposed convolutions repeat one kernel every ``stride`` samples and overlap
unevenly, so waveform generators built from them add fixed spectral lines at
multiples of each layer's input rate (Odena et al., Distill 2016; Pons et al.,
ICASSP 2021). audioup gives drop-in alternatives, a way to measure the lines,
and vocoder recipes that compare them.

Modules:
    layers      1D upsamplers (transposed, resize, subpixel, sinc), the registry
                (:func:`build_upsampler`) and :func:`replace_upsamplers`.
    metrics     tonal-artifact scores (predicted lines, blind detection) and the
                standard vocoder metrics; ``audioup measure``.
    analysis    layer diagnostics: overlap, checkerboard score, matrix form,
                frequency view, per-layer attribution; ``audioup analyze``.
    audio       audio file I/O with clear errors, atomic writes, the log-mel front end,
                the MR-STFT, the one dB floor.
    models      HiFi-GAN, BigVGAN, Vocos and iSTFTNet-style generators (the last two
                upsample by an inverse STFT), discriminators, losses.
    data        datasets over WAV files.
    train       config dataclasses, the training loop, checkpoints; ``audioup train``.
    inference   checkpoint -> generator -> waveform; ``audioup vocode``.
    device      ``--device auto|cpu|cuda:N`` -> a torch device (training and inference).
    cli         the ``audioup`` console script.
"""
__version__ = "0.1.0"

_LAZY = ("UPSAMPLER_KINDS", "ResizeConv1d", "SincConv1d", "SubpixelConv1d", "TransposedConv1d",
         "build_upsampler", "replace_upsamplers")


def __getattr__(name):  # PEP 562: the layers import torch, which `audioup measure` must not load
    if name in _LAZY:
        from . import layers

        return getattr(layers, name)
    raise AttributeError(f"module 'audioup' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
