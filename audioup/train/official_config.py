"""Training from an official HiFi-GAN ``config.json`` (jik876/hifi-gan's format).

``audioup train RECIPE --hifigan-config config.json run_dir=...`` reads the file and turns
its settings into ``key=value`` overrides, applied before those of the command line (which
therefore win, e.g. ``model.upsampler=resize-nearest``):

=============================================  ==========================================
config.json                                    audioup setting
=============================================  ==========================================
resblock, upsample_rates, upsample_kernel_     ``model.kwargs`` (``upsample_factors``,
sizes, upsample_initial_channel, resblock_     ``resblock_dilations``, ...), ``model.generator
kernel_sizes, resblock_dilation_sizes          = hifigan``, ``model.upsampler = transposed``
num_mels, n_fft, hop_size, win_size, fmin,     ``mel.n_mels``, ``mel.n_fft``, ``mel.hop_length``,
fmax, fmax_for_loss                            ``mel.win_length``, ``mel.f_min``, ``mel.f_max``,
                                               ``mel.loss_f_max``
sampling_rate                                  ``sample_rate``
segment_size                                   ``data.segment_length``
learning_rate, adam_b1, adam_b2, lr_decay      ``optim.lr``, ``optim.betas``, ``optim.lr_decay``
batch_size, seed                               ``train.batch_size``, ``seed``
=============================================  ==========================================

Keys that describe the official scripts' machinery (``num_gpus``, ``num_workers``,
``dist_config``, ``num_freq``) have no audioup counterpart and are ignored.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

from ..models.official import OfficialFormatError, config_from_json
from .config import ConfigError

# optional training keys of config.json -> audioup setting
TRAINING_KEYS = {"segment_size": "data.segment_length", "learning_rate": "optim.lr",
                 "lr_decay": "optim.lr_decay", "batch_size": "train.batch_size", "seed": "seed"}


def hifigan_overrides(path) -> List[str]:
    """``key=value`` overrides (JSON values, which YAML reads) for an official ``config.json``.

    Raises:
        ConfigError: the file cannot be read, is no JSON, or is no HiFi-GAN config (names the file).
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON file ({exc})") from None
    try:
        generator, mel = config_from_json(raw, source=str(path))
    except OfficialFormatError as exc:
        raise ConfigError(str(exc)) from None
    kwargs = dict(generator["kwargs"])
    sample_rate, n_mels = kwargs.pop("sample_rate"), kwargs.pop("n_mels")
    upsampler = kwargs.pop("upsampler")
    out = {"model.generator": generator["name"], "model.upsampler": upsampler, "model.kwargs": kwargs,
           "sample_rate": sample_rate, "mel.n_mels": n_mels, "mel.n_fft": mel["n_fft"],
           "mel.hop_length": mel["hop_length"], "mel.win_length": mel["win_length"],
           "mel.f_min": mel["f_min"], "mel.f_max": mel["f_max"]}
    if "fmax_for_loss" in raw:
        out["mel.loss_f_max"] = raw["fmax_for_loss"]
    for key, setting in TRAINING_KEYS.items():
        if key in raw:
            out[setting] = raw[key]
    if "adam_b1" in raw or "adam_b2" in raw:
        if not ("adam_b1" in raw and "adam_b2" in raw):
            raise ConfigError(f"{path}: adam_b1 and adam_b2 go together (one is missing)")
        out["optim.betas"] = [raw["adam_b1"], raw["adam_b2"]]
    return [f"{key}={json.dumps(value)}" for key, value in out.items()]
