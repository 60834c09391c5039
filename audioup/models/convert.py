"""Convert a trained generator's transposed upsamplers to another kind, keeping what fits.

:func:`convert_generator` takes what :func:`audioup.models.checkpoint.read_generator`
returns (an audioup checkpoint, an official HiFi-GAN file, a pretrained name), replaces the
chosen transposed layers (all of them, or those given by index) with the new kind started
at the least-squares closest tied kernel (:func:`audioup.layers.project.project_layer`,
bias kept), and returns the generator config and weights of the converted network, which
:func:`audioup.models.registry.build_generator_from` rebuilds (so the result is an ordinary
checkpoint for inference and fine-tuning). Every other weight is copied unchanged.

Each layer may get its own kernel length: a longer resize kernel keeps more of the trained
one (on HiFi-GAN V1 Universal's first x8 layer the residual falls from 30 % at 9 taps to
about 7 % at 65), at the cost of more multiplies in that layer.

:func:`istft_head_generator` makes the other conversion a released HiFi-GAN allows: its last
layers (product ``istft_hop``) and their residual blocks give way to an inverse STFT
(:class:`~.istftnet.ISTFTNet`); the trunk before them is copied unchanged and only the new
output convolution (the magnitude and phase head) starts untrained.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..audio.mel import MelSpectrogram, padded_stft

from ..layers import Replacement, parse_upsampler_spec, upsampler_class, upsampler_label
from ..layers.project import project_layer
from .hifigan import run_stages
from .registry import build_generator_from, plain
from .upsampling import layer_specs
from .vocos import spectrum_from_head

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


# The head's log-magnitude channels start here (a magnitude of 0.05 per bin, about -26 dB under
# a full-scale sine): quiet, so the untrained head adds little noise, and not so quiet that
# exp's gradient vanishes (it is proportional to the magnitude).
HEAD_LOG_MAGNITUDE = -3.0
HEAD_FIT_STEPS = 400
HEAD_SEED = 0  # draws the new head's weights
HEAD_FIT_SECONDS = 4.0  # of each recording the head's fit uses (its middle)


def istft_head_generator(source: Dict[str, Any], istft_hop: int = 4, istft_n_fft: Optional[int] = None,
                         fit_on: Sequence[Tensor] = (), fit_steps: int = HEAD_FIT_STEPS
                         ) -> Tuple[Dict[str, Any], Dict[str, Any], List[int]]:
    """A released HiFi-GAN with its last upsampling layers replaced by an inverse STFT (iSTFTNet).

    The layers whose factors multiply to ``istft_hop`` (the last ones) and their residual
    blocks are dropped; ``conv_pre`` and the earlier layers and blocks are copied unchanged;
    the output convolution becomes the head of :class:`~.istftnet.ISTFTNet`
    (``istft_n_fft + 2`` channels: log-magnitudes, whose bias starts at
    :data:`HEAD_LOG_MAGNITUDE`, and phases), which a fine-tune must then train.
    V1's factors (8, 8, 2, 2) with the default hop 4 and ``n_fft`` 16 give the paper's C8C8I.

    Args:
        source: ``{"generator_config", "generator"}`` of a HiFi-GAN
            (:func:`~.checkpoint.read_generator`).
        istft_hop: the inverse STFT's hop, the product of the layers it replaces.
        istft_n_fft: its size (default ``4 * istft_hop``).
        fit_on: recordings ``(T,)`` at the model's rate; when given, the head is fitted to
            what the original makes of them (:func:`fit_istft_head_`), else it starts untrained.
        fit_steps: steps of that fit.

    Returns:
        ``(generator_config, state_dict, replaced)``: the ISTFTNet config and weights, and the
        indices of the HiFi-GAN layers the inverse STFT replaces.

    Raises:
        ValueError: not a HiFi-GAN, or no trailing layers whose factors multiply to ``istft_hop``.
    """
    config = source["generator_config"]
    if config.get("name") != "hifigan":
        raise ValueError(f"an iSTFT head replaces a HiFi-GAN's last layers; this generator is {config.get('name')!r}")
    kwargs = dict(config["kwargs"])
    factors = list(kwargs.get("upsample_factors") or (8, 8, 2, 2))
    keep, product = len(factors), 1
    while keep > 1 and product < istft_hop:
        keep -= 1
        product *= factors[keep]
    if product != istft_hop:
        raise ValueError(f"no last layers of this generator (factors {factors}) multiply to the iSTFT hop "
                         f"{istft_hop}; choose a hop that is a product of its last factors")
    kernels = kwargs.get("upsample_kernel_sizes")
    specs = layer_specs(kwargs.get("upsampler"), len(factors))[:keep]
    kwargs.update(upsample_factors=factors[:keep],
                  upsample_kernel_sizes=list(kernels)[:keep] if kernels else None,
                  upsampler=specs[0] if all(s == specs[0] for s in specs) else specs,
                  istft_hop=int(istft_hop), istft_n_fft=int(istft_n_fft or 4 * istft_hop))
    new_config = {"name": "istftnet", "kwargs": plain(kwargs)}
    with torch.random.fork_rng(devices=[]):  # the same source always gives the same head
        torch.manual_seed(HEAD_SEED)
        target = build_generator_from(new_config)
    dropped = tuple(f"{group}.{i}." for group in ("upsamplers", "mrfs") for i in range(keep, len(factors)))
    kept = {k: v for k, v in source["generator"].items() if not k.startswith(dropped + ("conv_post.",))}
    missing, unexpected = target.load_state_dict(kept, strict=False)
    if unexpected or any(not k.startswith("conv_post.") for k in missing):
        raise ValueError(f"the HiFi-GAN's trunk does not fit the iSTFT generator (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    bins = target.istft_n_fft // 2 + 1
    with torch.no_grad():
        target.conv_post.bias[:bins].fill_(HEAD_LOG_MAGNITUDE)
        target.conv_post.bias[bins:].zero_()
    if len(fit_on):
        teacher = build_generator_from(config)
        teacher.load_state_dict(source["generator"])
        fit_istft_head_(target, teacher, MelSpectrogram(**source["mel"]), fit_on, fit_steps)
    return new_config, target.state_dict(), list(range(keep, len(factors)))


def fit_istft_head_(student: nn.Module, teacher: nn.Module, mel: nn.Module, recordings: Sequence[Tensor],
                    steps: int = HEAD_FIT_STEPS, lr: float = 3e-2) -> List[float]:
    """Fit an iSTFT generator's head (``conv_post``) to the original vocoder's output, in place.

    The student's trunk is the teacher's, so its last features are computed once; the head
    then learns by Adam to give the complex short-time spectrum (the framing of
    :class:`~.istft.InverseSTFT`, ``padding="same"``) of what the teacher makes from the same
    mel: squared error of real and imaginary parts over the target's power. An error in the
    complex plane needs no phase unwrapping, and a spectrum that matches it makes the teacher's
    waveform back exactly. Much of this is out of a linear head's reach (the teacher's last
    layers are nonlinear); what it gets is the start a fine-tune goes on from.

    Returns:
        The relative error after each step.
    """
    n_fft, hop = student.istft_n_fft, student.istft_hop
    window = student.istft.window
    feats, targets = [], []
    n = int(HEAD_FIT_SECONDS * mel.sample_rate)
    with torch.no_grad():
        for wave in recordings:
            wave = torch.as_tensor(wave, dtype=torch.float32).flatten()
            start = max(0, (len(wave) - n) // 2)
            wave = wave[start:start + n]
            m = mel(wave.unsqueeze(0))
            feats.append(run_stages(student, student.conv_pre(m)))
            targets.append(padded_stft(teacher(m).squeeze(1), n_fft, hop, window))
    power = sum(float(t.abs().pow(2).sum()) for t in targets)
    params = [p for p in student.conv_post.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    history = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        error = 0.0
        for x, target in zip(feats, targets):
            real, imag = spectrum_from_head(student.post(x), n_fft // 2 + 1, sine_phase=True)
            error = error + ((real - target.real) ** 2 + (imag - target.imag) ** 2).sum()
        loss = error / power
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    return history
