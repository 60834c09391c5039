"""The official HiFi-GAN checkpoint format (Kong et al., 2020) and its ``config.json``.

Most HiFi-GAN vocoders in use are files of the official repository's format: a
``{"generator": state_dict}`` saved with ``torch.save``, whose weight-normalised layers carry
old-style ``*.weight_g`` / ``*.weight_v`` keys (``torch.nn.utils.weight_norm``), named
``conv_pre``, ``ups.{i}``, ``resblocks.{i * n_kernels + j}.convs1/convs2/convs.{d}`` and
``conv_post``, plus a ``config.json`` holding the architecture and the mel front end.

This module maps such a file onto :class:`~audioup.models.hifigan.HiFiGAN` (the network
is the same: any V1/V2/V3 config, any factors) and back:

- :func:`config_from_json`: ``config.json`` -> ``(generator_config, mel_settings)``;
- :func:`official_to_audioup`: state-dict key mapping (old- or new-style weight norm, or
  plain weights of a checkpoint whose weight norm was removed);
- :func:`audioup_to_official`, :func:`config_to_json`: the inverse, to write official files.

A transposed layer whose ``kernel - factor`` is odd makes one sample more than
``factor * T`` in the official code; audioup's exact-length layer leaves out the first of
them (see :func:`audioup.layers.transposed.transposed_padding`), so for such configs the
waveform is shifted by one sample against the official code's. V1, V2 and V3 are even.
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, Mapping, Tuple

from torch import Tensor

# config.json keys -> HiFiGAN constructor arguments
GENERATOR_KEYS = {
    "upsample_rates": "upsample_factors",
    "upsample_kernel_sizes": "upsample_kernel_sizes",
    "upsample_initial_channel": "upsample_initial_channel",
    "resblock": "resblock",
    "resblock_kernel_sizes": "resblock_kernel_sizes",
    "resblock_dilation_sizes": "resblock_dilations",
}
# config.json keys -> MelSpectrogram arguments (num_mels is also the generator's n_mels)
MEL_KEYS = {
    "sampling_rate": "sample_rate",
    "n_fft": "n_fft",
    "hop_size": "hop_length",
    "win_size": "win_length",
    "num_mels": "n_mels",
    "fmin": "f_min",
    "fmax": "f_max",
}
DEFAULT_LOG_CLAMP = 1e-5  # the official meldataset's floor before the log
CLAMP_KEYS = ("log_clamp", "clip_val")  # optional: forks that changed the floor name it so

_WN = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


class OfficialFormatError(ValueError):
    """A config or state dict that does not describe an official HiFi-GAN generator."""


def config_from_json(config: Mapping[str, Any], source: str = "config.json") -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(generator_config, mel_settings)`` from an official HiFi-GAN ``config.json`` (as a dict).

    ``generator_config`` is ``{"name": "hifigan", "kwargs": {...}}`` with transposed
    upsamplers (what :func:`audioup.models.registry.build_generator_from` takes);
    ``mel_settings`` are the arguments of :class:`audioup.audio.mel.MelSpectrogram`.

    Raises:
        OfficialFormatError: a missing key, a wrong type, or a hop that the factors do not make.
    """
    if not isinstance(config, Mapping):
        raise OfficialFormatError(f"{source}: expected a JSON object, got {type(config).__name__}")
    missing = [k for k in (*GENERATOR_KEYS, *MEL_KEYS) if k not in config]
    if missing:
        raise OfficialFormatError(f"{source}: missing key(s) {', '.join(missing)} (not a HiFi-GAN config.json?)")
    try:
        kwargs: Dict[str, Any] = {
            "n_mels": int(config["num_mels"]),
            "upsample_factors": [int(v) for v in config["upsample_rates"]],
            "upsample_kernel_sizes": [int(v) for v in config["upsample_kernel_sizes"]],
            "upsample_initial_channel": int(config["upsample_initial_channel"]),
            "resblock": str(config["resblock"]),
            "resblock_kernel_sizes": [int(v) for v in config["resblock_kernel_sizes"]],
            "resblock_dilations": [[int(d) for d in ds] for ds in config["resblock_dilation_sizes"]],
            "upsampler": "transposed",
            "sample_rate": int(config["sampling_rate"]),
        }
        mel = {name: config[key] for key, name in MEL_KEYS.items()}
        mel = {k: (None if v is None else (int(v) if k not in ("f_min", "f_max") else float(v)))
               for k, v in mel.items()}
        clamp = next((config[k] for k in CLAMP_KEYS if k in config), DEFAULT_LOG_CLAMP)
        mel["clamp"] = float(clamp)
    except (TypeError, ValueError) as exc:
        raise OfficialFormatError(f"{source}: bad value ({exc})") from None
    if mel["f_min"] is None:
        mel["f_min"] = 0.0
    hop = math.prod(kwargs["upsample_factors"])
    if hop != mel["hop_length"]:
        raise OfficialFormatError(f"{source}: upsample_rates {kwargs['upsample_factors']} multiply to {hop} "
                                  f"but hop_size is {mel['hop_length']}")
    if len(kwargs["upsample_kernel_sizes"]) != len(kwargs["upsample_factors"]):
        raise OfficialFormatError(f"{source}: upsample_kernel_sizes {kwargs['upsample_kernel_sizes']} needs "
                                  f"one entry per upsample rate {kwargs['upsample_factors']}")
    return {"name": "hifigan", "kwargs": kwargs}, mel


def config_to_json(generator_config: Mapping[str, Any], mel_settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The inverse of :func:`config_from_json` (transposed HiFi-GAN only)."""
    kw = generator_config["kwargs"]
    if generator_config.get("name") != "hifigan" or kw.get("upsampler", "transposed") != "transposed":
        raise OfficialFormatError("only a HiFi-GAN with transposed upsamplers has an official config")
    out = {key: kw[name] for key, name in GENERATOR_KEYS.items() if name in kw}
    out.update({key: mel_settings[name] for key, name in MEL_KEYS.items() if name in mel_settings})
    out["num_mels"] = kw.get("n_mels", mel_settings.get("n_mels"))
    if "clamp" in mel_settings and mel_settings["clamp"] != DEFAULT_LOG_CLAMP:
        out["log_clamp"] = mel_settings["clamp"]
    return out


def is_official_state(data: Any) -> bool:
    """Whether a loaded file looks like an official generator checkpoint (``{"generator": {...}}``)."""
    if not isinstance(data, dict) or "format" in data or not isinstance(data.get("generator"), Mapping):
        return False
    return any(str(k).startswith(("conv_pre.", "ups.", "module.conv_pre.", "module.ups."))
               for k in data["generator"])


def _weight_norm_pair(weight: Tensor) -> Tuple[Tensor, Tensor]:
    """``(g, v)`` of a plain weight under weight norm over dim 0 (``v = weight``)."""
    dims = tuple(range(1, weight.dim()))
    return weight.norm(dim=dims, keepdim=True), weight


def official_to_audioup(state: Mapping[str, Tensor], n_kernels: int) -> Dict[str, Tensor]:
    """Rename an official generator state dict to :class:`HiFiGAN`'s keys.

    Args:
        state: the ``"generator"`` entry of an official checkpoint.
        n_kernels: residual blocks per upsampler (``len(resblock_kernel_sizes)``).

    A ``module.`` prefix (a model saved inside DataParallel/DDP) is dropped.
    Old-style ``weight_g``/``weight_v`` become parametrisation keys; a plain ``weight``
    (checkpoint saved after removing weight norm) is split into ``g = ||w||`` and ``v = w``,
    which gives the same weight. Keys audioup does not know are passed through unchanged,
    so :meth:`torch.nn.Module.load_state_dict` names them.
    """
    out: Dict[str, Tensor] = {}
    for key, value in state.items():
        key = str(key)
        key = key[len("module."):] if key.startswith("module.") else key  # saved from DataParallel/DDP
        m = re.match(r"^ups\.(\d+)\.(.*)$", key)
        if m:
            key = f"upsamplers.{m.group(1)}.{m.group(2)}"
        m = re.match(r"^resblocks\.(\d+)\.(.*)$", key)
        if m:
            index = int(m.group(1))
            key = f"mrfs.{index // n_kernels}.blocks.{index % n_kernels}.{m.group(2)}"
        head, _, leaf = key.rpartition(".")
        if leaf in _WN:
            out[f"{head}.{_WN[leaf]}"] = value
        elif leaf == "weight" and isinstance(value, Tensor):
            g, v = _weight_norm_pair(value)
            out[f"{head}.{_WN['weight_g']}"], out[f"{head}.{_WN['weight_v']}"] = g, v
        else:
            out[key] = value
    return out


def audioup_to_official(state: Mapping[str, Tensor], n_kernels: int) -> Dict[str, Tensor]:
    """The inverse of :func:`official_to_audioup`: old-style weight-norm keys, official names."""
    back = {v: k for k, v in _WN.items()}
    out: Dict[str, Tensor] = {}
    for key, value in state.items():
        for new, old in back.items():
            if key.endswith("." + new):
                key = key[:-len(new)] + old
        m = re.match(r"^upsamplers\.(\d+)\.(.*)$", key)
        if m:
            key = f"ups.{m.group(1)}.{m.group(2)}"
        m = re.match(r"^mrfs\.(\d+)\.blocks\.(\d+)\.(.*)$", key)
        if m:
            key = f"resblocks.{int(m.group(1)) * n_kernels + int(m.group(2))}.{m.group(3)}"
        out[key] = value.detach().clone()
    return out
