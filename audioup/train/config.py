"""Training configuration: typed dataclasses read from YAML, with ``extends`` and overrides.

A recipe is a small YAML file that names the file it extends and changes only
what differs::

    extends: base.yaml
    model: {preset: tiny}
    data: {files: [../data/cmu_arctic]}

Command-line overrides are ``key=value`` pairs with dotted keys
(``max_steps=20``, ``optim.lr=1e-4``, ``model.upsampler=resize``); values are
parsed as YAML (numbers, ``null``, ``[a, b]``, ``{kind: resize}``).

Paths: data paths written in a YAML file are relative to that file; paths given
as overrides, and ``run_dir`` everywhere, are relative to the current folder.
The sample rate is written once (``sample_rate``) and used by the data, the
mel front end, the generator and the metrics. A value of ``???`` marks a
required setting that a recipe or an override must fill in.

Reading the YAML files (``extends``, paths, aliases refused) is :mod:`.recipe_yaml`.
"""
from __future__ import annotations

import dataclasses
import errno
import math
import stat
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..models.registry import MAX_N_FFT, plain
from .recipe_yaml import PATH_KEYS, ConfigError, parse_value, read_yaml_chain, resolve_paths, set_dotted
from ..models.losses import FEATURE_MATCHING_WEIGHT, MEL_WEIGHT

REQUIRED = "???"

@dataclass
class DataConfig:
    """Where the audio comes from and how it is cut.

    ``files`` lists WAV files, folders (searched recursively) and/or ``.txt``
    filelists; ``filelist`` is a text file with one path per line (relative to
    the filelist). Held-out audio for validation is ``valid_files`` (the same
    kinds of entries, e.g. a prepared ``val.txt``), or else the last
    ``valid_count`` training files (removed from training); with neither, the
    first training file is used (not held out: a smoke-test setting).
    """

    files: List[str] = field(default_factory=list)
    filelist: Optional[str] = None
    valid_files: List[str] = field(default_factory=list)
    valid_count: int = 0
    valid_seconds: float = 4.0       # each validation file is cut to this length
    segment_length: int = 8192       # samples per training example
    on_bad_file: str = "stop"        # "stop" or "skip" unreadable / too-short files
    cache_mb: float = 1024.0         # decode the corpus into memory when it fits
    num_workers: int = 0


@dataclass
class MelConfig:
    """The mel front end (HiFi-GAN's convention). ``loss_f_max`` is the upper
    edge of the mel used by the L1 loss and validation (``null``: Nyquist, as
    in HiFi-GAN)."""

    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    f_min: float = 0.0
    f_max: Optional[float] = 8000.0
    loss_f_max: Optional[float] = None


@dataclass
class ModelConfig:
    """Generator ``generator`` (``hifigan``, ``bigvgan``, or ``istftnet`` / ``vocos``, whose
    last upsampling stage is an inverse STFT) built from ``preset`` with ``kwargs`` on top;
    ``upsampler`` is a kind name or a spec dict (``null``: the preset's transposed
    convolutions; ``vocos`` has no upsampling layers and takes only ``null``). ``discriminators`` are
    ``mpd``, ``msd``, ``mrd``; ``discriminator_kwargs`` maps a name to its
    constructor arguments (e.g. ``{msd: {width: 0.25}}``)."""

    generator: str = "hifigan"
    preset: Optional[str] = "v1"
    upsampler: Any = None
    kwargs: Dict[str, Any] = field(default_factory=dict)
    discriminators: List[str] = field(default_factory=lambda: ["mpd", "msd"])
    discriminator_kwargs: Dict[str, Dict[str, Any]] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW with exponential decay per epoch (HiFi-GAN's values)."""

    lr: float = 2e-4
    betas: Tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    lr_decay: float = 0.999
    grad_clip: Optional[float] = 1000.0   # max gradient norm (BigVGAN's value); null: off
    implementation: str = "auto"          # AdamW: auto (fused on CUDA/CPU), fused, foreach, for-loop


@dataclass
class LossConfig:
    """Loss weights: mel L1 x45 and feature matching x2 as in HiFi-GAN."""

    mel: float = MEL_WEIGHT
    feature_matching: float = FEATURE_MATCHING_WEIGHT
    adversarial: float = 1.0
    mrstft: float = 0.0


@dataclass
class LoopConfig:
    """How the loop runs: batch, intervals, device and precision."""

    batch_size: int = 16
    log_interval: int = 10
    checkpoint_interval: int = 5000
    validation_interval: int = 5000
    keep_last: int = 3
    device: str = "auto"              # "auto" (cuda when available), "cpu", "cuda", "cuda:1"
    precision: str = "fp32"           # "fp32", "bf16" or "fp16" (autocast, GPU only)
    threads: Optional[int] = None     # CPU threads per process (null: torch's default)
    progress: bool = True
    write_rank_states: bool = False   # debug: every rank saves its generator at the end
    discriminator_warmup: int = 0     # first steps train the discriminators only (fine-tuning)
    max_minutes: float = 0.0          # stop (with a checkpoint) after this much training time, summed
                                      # over resumes, validation and saving left out (0: max_steps only)
    clock: str = "wall"               # what max_minutes counts: "wall" time, or "cpu": this process's
                                      # CPU time / its threads (other load on the machine does not count)
    # opt-in speed settings, unmeasured on GPU so far (see benchmarks/bench_train_step.py):
    channels_last: bool = False       # 2D discriminator convolutions (MPD, MRD) in channels-last layout
    compile: Optional[str] = None     # torch.compile mode for G and D: default, reduce-overhead, max-autotune


@dataclass
class TrainConfig:
    run_dir: str = REQUIRED
    init_from: Optional[str] = None   # fine-tuning: weights to start from (--init-from wins)
    max_steps: int = 2_500_000
    sample_rate: int = 22050
    seed: int = 1234
    data: DataConfig = field(default_factory=DataConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: LoopConfig = field(default_factory=LoopConfig)


def load_config(path, overrides: Sequence[str] = (), *, for_run: bool = True) -> TrainConfig:
    """Read a YAML recipe (following ``extends``), apply ``key=value`` overrides, check it.

    Args:
        path: the recipe YAML.
        overrides: ``key=value`` settings applied on top.
        for_run: also check what a training run needs (:func:`validate_run`: ``run_dir``
            set and usable, training audio named). ``False`` reads a recipe for its
            model, mel or loss settings only (demo, benchmarks, compare's base config);
            the values themselves are checked either way.

    Raises:
        ConfigError: unreadable file, unknown key, wrong type, bad value, missing required value.
    """
    raw = read_yaml_chain(Path(path), seen=())
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value")
        value = parse_value(text, f"override {item!r}")
        keys = tuple(key.strip().split("."))
        if keys[:2] in PATH_KEYS:
            value = resolve_paths(value, Path.cwd())
        set_dotted(raw, keys, value, item)
    cfg = from_dict(raw, source=str(path))
    if for_run:
        validate(cfg)
    else:
        check_values(cfg)
    return cfg


def from_dict(raw: Dict[str, Any], source: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig` from a plain dict (e.g. the one stored in a checkpoint)."""
    return _build(TrainConfig, raw, prefix="", source=source)


def to_dict(cfg) -> Dict[str, Any]:
    """The config as plain Python containers (lists, not tuples) for YAML and checkpoints."""
    return plain(dataclasses.asdict(cfg))


def validate(cfg: TrainConfig) -> None:
    """Everything a training run needs: :func:`check_values` and :func:`validate_run`.

    A config derived with :func:`dataclasses.replace` is checked again with this.
    """
    _check_run_settings(cfg)
    check_values(cfg)
    _check_run_dir(Path(cfg.run_dir))


def validate_run(cfg: TrainConfig) -> None:
    """What a training run needs beyond sound values: ``run_dir`` set and usable as a
    folder, and training audio named (``data.files`` or ``data.filelist``)."""
    _check_run_settings(cfg)
    _check_run_dir(Path(cfg.run_dir))


def _check_run_settings(cfg: TrainConfig) -> None:
    if cfg.run_dir in (REQUIRED, "", None):
        raise ConfigError("run_dir is required: add run_dir=FOLDER to the command line")
    if not cfg.data.files and not cfg.data.filelist:
        raise ConfigError("no training audio: set data.files (files or folders) or data.filelist")


def check_values(cfg: TrainConfig) -> None:
    """Check every value and the consistency of related settings (not ``run_dir`` or the data)."""
    for name, value in (("max_steps", cfg.max_steps), ("sample_rate", cfg.sample_rate),
                        ("train.batch_size", cfg.train.batch_size),
                        ("data.segment_length", cfg.data.segment_length),
                        ("train.keep_last", cfg.train.keep_last),
                        ("train.checkpoint_interval", cfg.train.checkpoint_interval),
                        ("train.validation_interval", cfg.train.validation_interval),
                        ("train.log_interval", cfg.train.log_interval)):
        if value < 1:
            raise ConfigError(f"{name} must be >= 1 (got {value})")
    _check_ranges(cfg)
    if cfg.train.discriminator_warmup < 0:
        raise ConfigError(f"train.discriminator_warmup must be >= 0 (got {cfg.train.discriminator_warmup})")
    if cfg.data.segment_length % cfg.mel.hop_length:
        raise ConfigError(f"data.segment_length ({cfg.data.segment_length}) must be a multiple of "
                          f"mel.hop_length ({cfg.mel.hop_length})")
    choices = {"data.on_bad_file": (cfg.data.on_bad_file, ("stop", "skip")),
               "train.precision": (cfg.train.precision, ("fp32", "bf16", "fp16")),
               "train.clock": (cfg.train.clock, ("wall", "cpu"))}
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    if not 0 < cfg.optim.lr_decay <= 1:
        raise ConfigError(f"optim.lr_decay must be in (0, 1] (got {cfg.optim.lr_decay})")
    _check_device(cfg.train.device)


def _check_device(name: str) -> None:
    """``train.device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is there is
    checked when the run starts, :func:`audioup.train.loop.train`)."""
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N (got {name!r})")


# (key, low, high, low inclusive): numbers outside are refused naming the key; None = no bound
_RANGES = [
    ("sample_rate", 1000, 384000, True), ("optim.lr", 0, 1, False),
    ("optim.weight_decay", 0, None, True), ("optim.grad_clip", 0, None, False),
    ("mel.n_fft", 1, MAX_N_FFT, True), ("mel.hop_length", 1, None, True), ("mel.win_length", 1, None, True),
    ("mel.n_mels", 1, 1024, True), ("mel.f_min", 0, None, True), ("data.valid_count", 0, None, True),
    ("data.valid_seconds", 0, None, False), ("data.cache_mb", 0, None, True),
    ("data.num_workers", 0, 256, True), ("train.threads", 1, 4096, True), ("train.max_minutes", 0, None, True),
    ("loss.mel", 0, None, True), ("loss.feature_matching", 0, None, True),
    ("loss.adversarial", 0, None, True), ("loss.mrstft", 0, None, True),
]
_INT64_MAX = 2 ** 63 - 1


def _check_ranges(cfg: TrainConfig) -> None:
    for key, low, high, inclusive in _RANGES:
        section, _, name = key.rpartition(".")
        value = getattr(getattr(cfg, section) if section else cfg, name)
        if value is None:
            continue
        too_low = low is not None and (value < low if inclusive else value <= low)
        too_high = high is not None and value > high
        if too_low or too_high or value != value or abs(value) == float("inf"):
            where = (f"[{low}, {high}]" if inclusive else f"({low}, {high}]") if high is not None \
                else f"{'>=' if inclusive else '>'} {low}"
            raise ConfigError(f"{key} must be {'in ' if high is not None else ''}{where} (got {value})")
    for i, beta in enumerate(cfg.optim.betas):
        if not 0 <= beta < 1:
            raise ConfigError(f"optim.betas[{i}] must be in [0, 1) (got {beta})")
    if cfg.mel.hop_length > cfg.mel.n_fft:
        raise ConfigError(f"mel.hop_length ({cfg.mel.hop_length}) must be <= mel.n_fft ({cfg.mel.n_fft})")
    if cfg.mel.win_length > cfg.mel.n_fft:
        raise ConfigError(f"mel.win_length ({cfg.mel.win_length}) must be <= mel.n_fft ({cfg.mel.n_fft})")
    if cfg.mel.f_min >= cfg.sample_rate / 2:  # an all-zero filterbank: nothing to learn from
        raise ConfigError(f"mel.f_min must be below sample_rate / 2 = {cfg.sample_rate / 2} (got {cfg.mel.f_min})")
    for key in ("f_max", "loss_f_max"):
        value = getattr(cfg.mel, key)
        if value is not None and not cfg.mel.f_min < value <= cfg.sample_rate / 2:
            raise ConfigError(f"mel.{key} must be in (mel.f_min, sample_rate / 2] = "
                              f"({cfg.mel.f_min}, {cfg.sample_rate / 2}] (got {value})")
    for name in ("max_steps", "seed"):
        if abs(getattr(cfg, name)) > _INT64_MAX:
            raise ConfigError(f"{name} must be at most {_INT64_MAX} (got {getattr(cfg, name):.3g})")


def _check_run_dir(run_dir: Path) -> None:
    """``run_dir`` must be a folder or creatable as one (no file on the way, no link loop)."""
    for p in (run_dir, *run_dir.parents):
        try:
            mode = p.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            why = "a symbolic link loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
            where = "" if p == run_dir else f" (at {p})"
            raise ConfigError(f"run_dir {run_dir}: {why}{where}; choose a folder") from None
        if not stat.S_ISDIR(mode):
            what = "is a file" if p == run_dir else f"is below {p}, which is a file"
            raise ConfigError(f"run_dir {run_dir}: {what}; choose a folder")
        return


# ----------------------------------------------------------------------------- typing


def _build(cls, raw, prefix: str, source: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown key {prefix}{unknown[0]} "
                          f"(known keys under {prefix or 'the top level'}: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in raw.items():
        key = prefix + name
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = _build(typ, value or {}, key + ".", source)
        else:
            kwargs[name] = _coerce(value, typ, key, source)
    return cls(**kwargs)


def _coerce(value, typ, key: str, source: str):
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if typ is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, source)
    if value == REQUIRED:
        return value
    if origin in (list, List):
        if isinstance(value, (str, int, float)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        return [_coerce(v, args[0], key, source) for v in value] if args else list(value)
    if origin in (tuple, Tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{source}: {key} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, key, source) for v, a in zip(value, args))
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return dict(value)
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
    if typ in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        try:
            number = float(value) if typ is float else int(value) if isinstance(value, (int, str)) else value
        except ValueError:
            try:  # "1e6": YAML reads exponents without a dot as strings
                number = float(value)
            except ValueError:
                raise ConfigError(f"{source}: {key} must be a number, got {value!r}") from None
        if typ is int and isinstance(number, float) and not math.isfinite(number):
            raise ConfigError(f"{source}: {key} must be a whole number, got {value!r}")
        if typ is int and (isinstance(number, float) and not float(number).is_integer()):
            raise ConfigError(f"{source}: {key} must be a whole number, got {value!r}")
        return int(number) if typ is int else number
    if typ is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return str(value)
    return value
