"""The upsampling stack shared by the generators: one layer per factor, built from the layers registry.

A generator's ``upsampler`` argument is anything :func:`audioup.layers.build_upsampler`
accepts (``"transposed"``, ``"resize-linear"``, ``{"kind": "subpixel", "icnr": True}``,
...). Every layer gets the same treatment whatever its kind, so two generators differ only
in the layer's structure:

- weights drawn from HiFi-GAN's N(0, 0.01) (ICNR keeps its equal phases),
- weight normalisation on ``.weight``,
- then, by the generator's ``upsampler_init``:

  * ``"hifigan"``: nothing more (the plain N(0, 0.01) of every kind);
  * ``"matched"``: every non-transposed layer is rescaled so that its output on unit
    white noise has the RMS a transposed layer of the same shape has in expectation,
    ``0.01 * sqrt(C_in * K / s)`` (:func:`match_gain_`);
  * ``"level"`` (the default): ``"matched"``, then, as an explicit step once the generator
    is built (:func:`calibrate_levels_`: a fresh training run, compare's step 0, an analysis
    of untrained weights), :func:`match_output_levels_` on a speech-like probe mel
    (:func:`probe_mel`).

Why ``"level"``: the white-noise match is not a match on speech. A log-mel is mostly
constant over time; only a transposed layer turns a constant into sound (its lines at
multiples of its input rate), interpolating kinds keep a constant constant. With
``"matched"`` the tiny HiFi-GAN on the bundled speech starts up to 57 dB (broadband, DC
removed) below what a transposed upsampler gives in the same network. So ``"level"``
matches what a generator makes of a mel: layer by layer, the upsampler's gain (weight
norm's ``g``) is solved so that the DC-removed power after its stage (its residual
blocks; for the last layer the output convolution) equals the mean over 4 transposed
twins of the same network (same input convolution, residual blocks and output
convolution; the twins' layers drawn under :func:`torch.random.fork_rng`, so the global
RNG and every later draw stay as they were). Measured on the bundled speech (tiny
HiFi-GAN, 4 seeds x 4 kinds): within -5..+5 dB of the transposed twins broadband, where
``"matched"`` left -57..+2 dB. What no gain can match is the level above 1 kHz of the
band-limited kinds (linear, sinc: 70-90 dB below transposed there): at step 0 that band
holds transposed's lines and images, which these layers are built not to make (nearest
and ICNR sub-pixel end 25-40 dB below there). Cost: a probe pass per twin and a few per
layer, 2 s for V2, 8-14 s for a full-size V1 or BigVGAN on one CPU thread (milliseconds
for the tiny model); a generator whose weights are loaded next (a checkpoint; training that
resumes or starts from ``init_from``) never runs it.

Kernel sizes: ``transposed`` uses the generator's ``upsample_kernel_sizes`` (HiFi-GAN's
16, 16, 4, 4), other kinds their own defaults, unless the spec sets ``kernel_size``
(then every layer uses it).

Per layer: ``upsampler`` may also be a list with one spec per factor, e.g.
``["transposed", "transposed", {"kind": "resize-nearest", "kernel_size": 9}, "resize-nearest"]``
(what ``audioup convert --layers`` writes: only the layers that made lines are replaced).
Its label joins the layers' labels with ``+`` unless they are all the same.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from ..layers import build_upsampler, parse_upsampler_spec, upsampler_class, upsampler_label
from ..layers.base import scale_weight_, weight_norm
from .resblocks import INIT_STD, remove_weight_norm_, weight_norm_conv

UpsamplerSpec = Union[None, str, Dict[str, Any], List[Union[str, Dict[str, Any]]]]


def check_factors(upsample_factors: Sequence[int],
                  upsample_kernel_sizes: Optional[Sequence[int]]) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Validate factors and transposed kernel sizes; ``None`` kernels become ``2 * factor``.

    Raises:
        ValueError: empty or non-positive factors, or a kernel list of another length.
    """
    factors = tuple(int(f) for f in upsample_factors)
    if not factors or any(f < 1 for f in factors):
        raise ValueError(f"upsample_factors must be a non-empty list of integers >= 1, got {list(upsample_factors)}")
    if upsample_kernel_sizes is None:
        kernels = tuple(2 * f for f in factors)
    else:
        kernels = tuple(int(k) for k in upsample_kernel_sizes)
        if len(kernels) != len(factors):
            raise ValueError(f"upsample_kernel_sizes {list(kernels)} must have one entry per factor "
                             f"{list(factors)}")
    return factors, kernels


def normalize_spec(upsampler: UpsamplerSpec):
    """``None`` -> ``"transposed"``; names, mappings and per-layer lists are checked
    (unknown kinds raise ``ValueError``)."""
    if upsampler is None:
        return "transposed"
    if isinstance(upsampler, (list, tuple)):
        if not upsampler:
            raise ValueError("a per-layer upsampler list needs one spec per factor, got []")
        return [normalize_spec(s) for s in upsampler]
    parse_upsampler_spec(upsampler)
    return upsampler if isinstance(upsampler, str) else dict(upsampler)


def layer_specs(upsampler: UpsamplerSpec, layers: int) -> List[Union[str, Dict[str, Any]]]:
    """One spec per layer: a single spec repeated, or a per-layer list checked for its length.

    Raises:
        ValueError: a list whose length is not ``layers``, or an unknown kind.
    """
    spec = normalize_spec(upsampler)
    if isinstance(spec, list):
        if len(spec) != layers:
            raise ValueError(f"the per-layer upsampler list has {len(spec)} entries for {layers} upsampling "
                             "factors; give one per factor")
        return spec
    return [spec] * layers


def stack_label(upsampler: UpsamplerSpec) -> str:
    """Short name of a stack: one label (``resize-nearest``), or the layers' joined by ``+``."""
    spec = normalize_spec(upsampler)
    if not isinstance(spec, list):
        return upsampler_label(spec)
    labels = [upsampler_label(s) for s in spec]
    return labels[0] if len(set(labels)) == 1 else "+".join(labels)


INIT_MODES = ("level", "matched", "hifigan")


def transposed_rms(in_channels: int, factor: int, kernel_size: int, std: float = INIT_STD) -> float:
    """Expected output RMS of a transposed convolution with N(0, std) weights on unit white noise.

    Each output sample sums ``in_channels * kernel_size / factor`` independent
    products on average, so its variance is ``std**2 * in_channels * kernel_size / factor``.
    """
    return std * math.sqrt(in_channels * kernel_size / factor)


def white_noise_rms(layer: nn.Module, in_channels: int, frames: int = 64, seed: int = 0) -> float:
    """Output RMS of ``layer`` on unit white noise (a local generator: the global RNG is untouched)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, in_channels, frames, generator=gen)
    with torch.no_grad():
        y = layer(x) - layer(torch.zeros_like(x))  # the bias is not part of the gain
        margin = y.shape[-1] // 8  # edges see padding, not noise
        y = y[..., margin:-margin] if margin else y
    return float(y.pow(2).mean().sqrt())


def match_gain_(layer: nn.Module, in_channels: int, factor: int, kernel_size: int,
                std: float = INIT_STD) -> float:
    """Scale ``layer.weight`` so its white-noise output RMS is :func:`transposed_rms`; returns the scale."""
    target = transposed_rms(in_channels, factor, kernel_size, std)
    actual = white_noise_rms(layer, in_channels)
    scale = target / actual if actual > 0 else 1.0
    with torch.no_grad():
        layer.weight.mul_(scale)
    return scale


def build_upsampling_stack(upsampler: UpsamplerSpec, channels: Sequence[int], factors: Sequence[int],
                           kernel_sizes: Sequence[int], use_weight_norm: bool = True,
                           init: str = "matched") -> nn.ModuleList:
    """One upsampler per factor: layer ``i`` maps ``channels[i]`` to ``channels[i + 1]``.

    Args:
        upsampler: a spec for :func:`audioup.layers.build_upsampler` (``None`` = transposed),
            or a list with one spec per factor.
        channels: ``len(factors) + 1`` channel counts.
        factors: integer factors.
        kernel_sizes: transposed kernel sizes, one per factor.
        use_weight_norm: wrap each layer's ``weight`` in weight normalisation.
        init: ``"matched"`` (white-noise gain of a transposed layer with ``kernel_sizes[i]``)
            or ``"hifigan"`` (plain N(0, 0.01) whatever the kind); ``"level"`` builds as
            ``"matched"`` (:func:`calibrate_levels_` does the rest).
    """
    if init not in INIT_MODES:
        raise ValueError(f"upsampler init must be one of {', '.join(INIT_MODES)}, got {init!r}")
    layers: List[nn.Module] = []
    for i, (factor, spec) in enumerate(zip(factors, layer_specs(upsampler, len(factors)))):
        options = parse_upsampler_spec(spec)[1]
        extra = {}
        reference = upsampler_class(spec).REFERENCE
        if reference and "kernel_size" not in options:
            extra["kernel_size"] = kernel_sizes[i]
        layer = build_upsampler(spec, channels[i], channels[i + 1], factor, **extra)
        layer.init_normal_(INIT_STD)  # the kind keeps its structure (ICNR's tied phases)
        if init != "hifigan" and not reference:
            match_gain_(layer, channels[i], factor, kernel_sizes[i])
        layers.append(weight_norm(layer) if use_weight_norm else layer)
    return nn.ModuleList(layers)


def hop_of(factors: Sequence[int]) -> int:
    """Samples per mel frame: the product of the factors."""
    return int(math.prod(factors))


def check_mel(mel: Tensor, n_mels: int, name: str) -> None:
    """Raise ``ValueError`` unless ``mel`` is ``(B, n_mels, N)`` with ``N >= 1``."""
    if mel.dim() != 3 or mel.shape[1] != n_mels or mel.shape[2] < 1:
        raise ValueError(f"{name} expects a mel of shape (B, {n_mels}, frames), got {tuple(mel.shape)}")


class MelGenerator(nn.Module):
    """What the generators share: the input convolution, the upsampling stack, the bookkeeping.

    The stages, which the level calibration and the conversion's fine-tune address by name:
    ``conv_pre`` (mel to channels), then for each ``i`` ``upsamplers[i]`` and the residual
    blocks ``mrfs[i]`` after it, then :meth:`post` (the output convolution) and :meth:`waveform`
    (``post`` and the output nonlinearity, or an inverse STFT). Subclasses call
    :meth:`build_trunk` in ``__init__``, add ``mrfs`` and define :meth:`post`. Building is cheap
    and draws only the weights; a fresh training run then calls :func:`calibrate_levels_`.
    """

    def build_trunk(self, n_mels: int, sample_rate: int, upsample_factors: Sequence[int],
                    upsample_kernel_sizes: Optional[Sequence[int]], upsample_initial_channel: int,
                    resblock_kernel_sizes: Sequence[int], resblock_dilations: Sequence[Sequence[int]],
                    upsampler: UpsamplerSpec, upsampler_init: str = "level") -> List[int]:
        """Check the arguments, set the attributes, build ``conv_pre`` and ``upsamplers``.

        Returns:
            The channel count before the first and after each upsampler.
        """
        factors, kernels = check_factors(upsample_factors, upsample_kernel_sizes)
        if len(resblock_kernel_sizes) != len(resblock_dilations):
            raise ValueError("resblock_kernel_sizes and resblock_dilations need the same length, got "
                             f"{list(resblock_kernel_sizes)} and {[list(d) for d in resblock_dilations]}")
        channels = [upsample_initial_channel // 2 ** i for i in range(len(factors) + 1)]
        if channels[-1] < 1:
            raise ValueError(f"upsample_initial_channel={upsample_initial_channel} is too small for "
                             f"{len(factors)} halvings")
        self.n_mels, self.sample_rate = int(n_mels), int(sample_rate)
        self.upsample_factors, self.upsample_kernel_sizes = factors, kernels
        self.hop_length = hop_of(factors)
        self.upsampler_spec = normalize_spec(upsampler)
        self.upsampler_label = stack_label(self.upsampler_spec)
        self.conv_pre = weight_norm_conv(n_mels, channels[0], 7, init=False)
        self.upsampler_init = upsampler_init
        self.upsamplers = build_upsampling_stack(self.upsampler_spec, channels, factors, kernels,
                                                 init=upsampler_init)
        self.trunk_channels = list(channels)
        self.level_scales = [1.0] * len(self.upsamplers)  # until :func:`calibrate_levels_`
        return channels

    def post(self, x: Tensor) -> Tensor:
        """The output convolution after the last residual blocks (before the output nonlinearity)."""
        raise NotImplementedError

    def waveform(self, x: Tensor) -> Tensor:
        """The last residual blocks' output to the waveform ``(B, 1, T)``: :meth:`post`, then ``tanh``
        (an iSTFT generator overrides it with its inverse STFT)."""
        return self.post(x).tanh()

    def remove_weight_norm(self):
        """Fold weight norm into plain weights for inference (in place); returns ``self``."""
        remove_weight_norm_(self)
        return self

    def extra_repr(self) -> str:
        return (f"n_mels={self.n_mels}, sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
                f"factors={self.upsample_factors}, upsampler={self.upsampler_label}")


def ac_power(y: Tensor, edge: float = 0.125) -> float:
    """Mean power of ``y`` ``(B, C, T)`` with each channel's mean over time (DC) removed.

    The first and last ``edge`` of the samples are left out: there the zero padding
    turns a constant into a step, which would count as sound.
    """
    margin = int(y.shape[-1] * edge)
    y = y[..., margin:y.shape[-1] - margin] if margin else y
    return float(y.double().var(dim=-1, unbiased=False).mean())



PROBE_SEED = 0


class _Captured(Exception):
    """Stops a forward pass once the wanted activations are captured."""


def probe_mel(n_mels: int, frames: int = 32, seed: int = PROBE_SEED) -> Tensor:
    """A deterministic speech-like log-mel ``(1, n_mels, frames)`` for calibrating levels.

    Measured on the bundled ARCTIC speech (natural-log mel, 80 bins): per-bin means fall
    from about -3 (low bins) to -6 (high bins), and each bin varies over time with a
    standard deviation of about 1.7, half of it shared across bins (the loudness
    envelope). The probe has these statistics (fluctuations smoothed over 3 frames),
    drawn from a local generator: the global RNG is untouched. What matters for the
    calibration is the ratio of the constant part (which a transposed layer turns into
    lines) to the varying part (the only part an interpolating layer passes on).
    """
    gen = torch.Generator().manual_seed(seed)
    tilt = torch.linspace(-3.0, -6.0, n_mels).unsqueeze(1)
    wobble = torch.randn(1, frames, generator=gen) + torch.randn(n_mels, frames, generator=gen)
    wobble = nn.functional.avg_pool1d(wobble.unsqueeze(0), 3, 1, 1, count_include_pad=False)[0]
    return (tilt + 1.7 * wobble / wobble.std()).unsqueeze(0)


def _stage_outputs(generator: nn.Module, mel: Tensor) -> List[Tensor]:
    """Output of every stage: residual blocks ``i`` after upsampler ``i``; for the last
    one the output convolution's (``generator.post``, before ``tanh``)."""
    outs: List[Tensor] = []
    handles = [m.register_forward_hook(lambda module, args, out: outs.append(out.detach()))
               for m in generator.mrfs]
    try:
        with torch.no_grad():
            generator(mel)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        outs[-1] = generator.post(outs[-1])
    return outs


def _upsampler_input(generator: nn.Module, mel: Tensor, index: int) -> Tensor:
    """What ``generator.upsamplers[index]`` receives on ``mel`` (the forward stops there)."""
    captured: List[Tensor] = []

    def grab(module, args):
        captured.append(args[0].detach())
        raise _Captured

    handle = generator.upsamplers[index].register_forward_pre_hook(grab)
    try:
        with torch.no_grad():
            generator(mel)
    except _Captured:
        pass
    finally:
        handle.remove()
    return captured[0]


def _stage(generator: nn.Module, index: int, x: Tensor) -> Tensor:
    """Stage ``index`` on its upsampler's input ``x`` (see :func:`_stage_outputs`)."""
    with torch.no_grad():
        y = generator.mrfs[index](generator.upsamplers[index](x))
        return generator.post(y) if index == len(generator.upsamplers) - 1 else y


def transposed_twin(generator: nn.Module, channels: Sequence[int], seed: int = PROBE_SEED,
                    copy_rest: bool = True) -> nn.Module:
    """A copy of ``generator`` whose upsamplers are transposed layers drawn from a fixed seed.

    Everything else (input convolution, residual blocks, output convolution) is the
    generator's own, so the two differ only in the upsampling layers. The draw happens
    under :func:`torch.random.fork_rng`: the global RNG is as before. With
    ``copy_rest=False`` the upsamplers of ``generator`` itself are replaced (no copy).
    """
    twin = copy.deepcopy(generator) if copy_rest else generator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        factors = generator.upsample_factors[:len(generator.upsamplers)]  # iSTFTNet: an iSTFT comes last
        twin.upsamplers = build_upsampling_stack("transposed", channels, factors,
                                                 generator.upsample_kernel_sizes, use_weight_norm=False,
                                                 init="hifigan")
    return twin


def _solve_gain_(layer: nn.Module, power: Callable[[], float], target: float, steps: int = 10,
                 tol_db: float = 0.25, limit: float = 100.0) -> float:
    """Scale ``layer``'s weight until ``power()`` is ``target``; returns the total scale.

    The scale stays within ``[1 / limit, limit]``. A stage still 1 dB or more above
    ``target`` at the lower bound gets its weight back as it was (scale 1): its power has
    a floor the layer's gain cannot move (plain sub-pixel's per-phase biases make lines
    on their own), and driving the gain down would only silence the layer.

    A proportional step (``sqrt(target / power)``) inside a bracket that shrinks around
    the answer, bisected (in log scale) when the step leaves it: a stage is not
    proportional to its upsampler's gain (biases, and a leaky ReLU whose input crosses
    zero only once the varying part outgrows the constant one, a jump of up to 40 dB).
    """
    lo, hi, scale, now = 0.5 / limit, 2.0 * limit, 1.0, power()
    for _ in range(steps):
        if not (now > 0 and target > 0) or abs(10 * math.log10(now / target)) < tol_db:
            break
        if now < target:
            lo = scale
        else:
            hi = scale
        guess = scale * math.sqrt(target / now)
        if not lo < guess < hi:
            guess = math.sqrt(lo * hi)
        guess = min(max(guess, 1.0 / limit), limit)
        if guess == scale:  # at a bound and still on the same side
            break
        scale_weight_(layer, guess / scale)
        scale, now = guess, power()
    reached = now > 0 and target > 0 and abs(10 * math.log10(now / target)) < 1.0
    if not reached and scale <= 1.0 / limit:
        scale_weight_(layer, 1.0 / scale)
        scale = 1.0
    return scale


def calibrate_levels_(generator: nn.Module, mel: Optional[Tensor] = None) -> List[float]:
    """The level calibration of a new generator, in place: with ``upsampler_init="level"``
    :func:`match_output_levels_` on ``mel`` (default :func:`probe_mel`); otherwise, or without
    upsamplers (Vocos), nothing. Returns (and keeps in ``generator.level_scales``) each layer's scale.

    An explicit step, not part of building: a generator whose weights are loaded next needs
    none of it (seconds for a full-size model). Run it on the CPU, before moving the generator
    (the transposed twins are built there). It draws nothing from the global RNG.
    """
    if getattr(generator, "upsampler_init", None) != "level" or not len(getattr(generator, "upsamplers", ())):
        return list(getattr(generator, "level_scales", []))
    generator.level_scales = match_output_levels_(generator, generator.trunk_channels, mel)
    return generator.level_scales


def match_output_levels_(generator: nn.Module, channels: Sequence[int], mel: Optional[Tensor] = None,
                         steps: int = 10, twins: int = 4) -> List[float]:
    """Rescale each non-transposed upsampler so every stage's AC level is a transposed generator's.

    A transposed twin (:func:`transposed_twin`) runs on ``mel`` (default :func:`probe_mel`);
    then, layer by layer, the upsampler's weight (``g`` under weight norm) is scaled until
    the power, DC removed, of the stage after it (residual blocks ``i``; the output
    convolution for the last layer) equals the twin's, within 0.25 dB or ``steps`` tries
    (:func:`_solve_gain_`). Returns each layer's total scale (all 1 for transposed, which
    is left as drawn).
    """
    reference = [upsampler_class(s).REFERENCE for s in layer_specs(generator.upsampler_spec, len(generator.upsamplers))]
    if all(reference):
        return [1.0] * len(generator.upsamplers)
    mel = probe_mel(generator.n_mels) if mel is None else mel
    twin = transposed_twin(generator, channels)
    draws = []
    for seed in range(twins):
        if seed:
            twin.upsamplers = transposed_twin(twin, channels, seed, copy_rest=False).upsamplers
        draws.append([ac_power(y) for y in _stage_outputs(twin, mel)])
    targets = [sum(d[i] for d in draws) / twins for i in range(len(generator.upsamplers))]
    scales = []
    for i, layer in enumerate(generator.upsamplers):
        if reference[i]:  # a per-layer stack's transposed layers are the reference: left as drawn
            scales.append(1.0)
            continue
        x = _upsampler_input(generator, mel, i)
        scales.append(_solve_gain_(layer, lambda: ac_power(_stage(generator, i, x)), targets[i], steps))
    return scales
