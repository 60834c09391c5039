"""Everything the training loop needs that does not change while it runs.

:func:`build_context` checks the audio files (before any model is built, so a
bad corpus fails fast), builds the generator, the discriminators, the mel front
ends and the losses on the right device, and loads the held-out audio.
:func:`build_data` makes the segment loader with a distributed sampler (one
shard per rank; a plain process is rank 0 of 1).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from ..audio.io import AudioError, load_audio
from ..audio.mel import MelSpectrogram
from ..data.dataset import (DataError, SegmentDataset, collect_files, estimated_megabytes,
                            usable_files)
from ..metrics import measure_signal
from ..models import registry
from ..models.discriminators import DISCRIMINATORS, CombinedDiscriminator
from ..models.losses import MultiResolutionSTFTLoss
from ..models.registry import build_generator_from, check_generator_size, check_size, parameter_count
from ..models.upsampling import calibrate_levels_
from .config import ConfigError, TrainConfig
from .distributed import DistInfo


@dataclass
class Context:
    """The fixed parts of a run: config, device, models (unwrapped), front ends, data checks."""

    cfg: TrainConfig
    device: torch.device
    info: DistInfo
    precision: str
    generator: nn.Module
    discriminator: nn.Module
    generator_config: Dict[str, Any]
    discriminator_names: List[str]
    mel: nn.Module
    loss_mel: nn.Module
    mrstft: Optional[nn.Module]
    train_files: list
    train_lengths: list
    valid_audio: List[Tensor] = field(default_factory=list)
    extra_metrics: Callable[[Tensor, Tensor], Dict[str, float]] = lambda fake, real: {}
    n_logged_samples: int = 2

    def autocast(self):
        """bf16/fp16 autocast on GPU; a no-op in fp32 and on CPU."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)


def mel_settings(cfg: TrainConfig) -> Dict[str, Any]:
    """Arguments of :class:`~audioup.audio.mel.MelSpectrogram` for the generator's input."""
    m = cfg.mel
    return dict(sample_rate=cfg.sample_rate, n_fft=m.n_fft, hop_length=m.hop_length,
                win_length=m.win_length, n_mels=m.n_mels, f_min=m.f_min, f_max=m.f_max)


def generator_config(cfg: TrainConfig) -> Dict[str, Any]:
    """The generator spec of a config (:func:`audioup.models.registry.generator_config`)."""
    try:
        return registry.generator_config(cfg.model.generator, cfg.model.preset, cfg.model.kwargs,
                                         cfg.model.upsampler, sample_rate=cfg.sample_rate,
                                         n_mels=cfg.mel.n_mels)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None


def build_context(cfg: TrainConfig, device: torch.device, info: DistInfo, log=print,
                  fresh: bool = True) -> Context:
    """The fixed parts of a run, models on ``device``.

    ``fresh``: a new run, whose generator gets the level calibration
    (:func:`~audioup.models.upsampling.calibrate_levels_`); ``False`` when the caller loads its
    weights next (resume, ``init_from``). The calibration draws nothing from the global RNG,
    so every later draw (the discriminators' weights) is the same either way.
    """
    gen_config = generator_config(cfg)
    check_model_sizes(cfg, gen_config)  # before reading the corpus or allocating anything
    files = collect_files(cfg.data.files, cfg.data.filelist)
    valid_files = collect_files(cfg.data.valid_files) if cfg.data.valid_files else []
    if not valid_files and cfg.data.valid_count > 0:
        if cfg.data.valid_count >= len(files):
            raise ConfigError(f"data.valid_count ({cfg.data.valid_count}) leaves no training files "
                              f"out of {len(files)}")
        files, valid_files = files[:-cfg.data.valid_count], files[-cfg.data.valid_count:]
    check = usable_files(files, cfg.sample_rate, cfg.data.segment_length, cfg.data.on_bad_file, log)
    log(f"training on {len(check.good)} files ({sum(check.lengths) / cfg.sample_rate / 60:.1f} min "
        f"at {cfg.sample_rate} Hz)")

    precision = cfg.train.precision
    if precision != "fp32" and device.type != "cuda":
        log(f"note: precision {precision} needs a GPU; training in fp32 on {device}")
        precision = "fp32"

    try:
        generator = build_generator_from(gen_config)
        if fresh:
            calibrate_levels_(generator)
        generator = generator.to(device)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None
    if generator.hop_length != cfg.mel.hop_length:
        raise ConfigError(f"the generator upsamples by {generator.hop_length} but mel.hop_length is "
                          f"{cfg.mel.hop_length}; make the upsample factors multiply to the hop")
    names = list(cfg.model.discriminators)
    discriminator = _build_discriminator(names, cfg.model.discriminator_kwargs).to(device)

    settings = mel_settings(cfg)
    mel = MelSpectrogram(**settings).to(device)
    loss_mel = MelSpectrogram(**{**settings, "f_max": cfg.mel.loss_f_max}).to(device)
    mrstft = MultiResolutionSTFTLoss().to(device) if cfg.loss.mrstft > 0 else None

    valid = valid_files or check.good[:1]
    valid_check = usable_files(valid, cfg.sample_rate, cfg.mel.hop_length * 4, cfg.data.on_bad_file, log)
    valid_audio = [c for c in (_valid_clip(p, cfg, log) for p in valid_check.good) if c is not None]
    if not valid_audio:
        raise DataError("no usable validation audio (every file failed to decode)")
    return Context(cfg=cfg, device=device, info=info, precision=precision, generator=generator,
                   discriminator=discriminator, generator_config=gen_config,
                   discriminator_names=names, mel=mel, loss_mel=loss_mel,
                   mrstft=mrstft, train_files=check.good, train_lengths=check.lengths,
                   valid_audio=valid_audio, extra_metrics=_metric_functions(cfg, generator, log))


class EpochBatches:
    """Batches of indices from a (distributed) sampler for one epoch, skipping the first
    ``skip`` batches (to resume mid-epoch). Incomplete last batches are dropped."""

    def __init__(self, sampler, batch_size: int):
        self.sampler, self.batch_size, self.skip = sampler, batch_size, 0

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self):
        indices = list(self.sampler)
        for b in range(self.skip, len(self)):
            yield indices[b * self.batch_size:(b + 1) * self.batch_size]


def build_data(cfg: TrainConfig, ctx: Context, log=print):
    """``(loader, sampler, batches)``: call ``sampler.set_epoch`` and set ``batches.skip`` per epoch."""
    megabytes = estimated_megabytes(ctx.train_lengths)
    cache = megabytes <= cfg.data.cache_mb
    if cache:
        log(f"caching the decoded corpus in memory ({megabytes:.0f} MB)")
    dataset = SegmentDataset(ctx.train_files, cfg.sample_rate, cfg.data.segment_length, cache=cache,
                             lengths=ctx.train_lengths, progress=cfg.train.progress and ctx.info.is_main,
                             on_bad_file=cfg.data.on_bad_file, log=log)
    sampler = DistributedSampler(dataset, num_replicas=ctx.info.world_size, rank=ctx.info.rank,
                                 shuffle=True, seed=cfg.seed)
    batches = EpochBatches(sampler, cfg.train.batch_size)
    if len(batches) == 0:
        raise DataError(f"train.batch_size {cfg.train.batch_size} is larger than the "
                        f"{len(sampler)} training files per process; lower it or add audio")
    workers = cfg.data.num_workers
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                        pin_memory=ctx.device.type == "cuda", persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(cfg.seed + ctx.info.rank))
    return loader, sampler, batches


def check_model_sizes(cfg: TrainConfig, gen_config: Dict[str, Any]) -> None:
    """Refuse a generator or discriminators too large to build (counted without allocating,
    :func:`audioup.models.registry.check_generator_size`), naming the setting.

    Raises:
        ConfigError: naming ``model`` / ``model.discriminator_kwargs`` and the key.
    """
    try:
        check_generator_size(gen_config)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None
    names, kwargs = list(cfg.model.discriminators), cfg.model.discriminator_kwargs
    try:
        count = parameter_count(lambda: _build_discriminator(names, kwargs))
        check_size(count, "the discriminators", " (lower the sizes in model.discriminator_kwargs)")
    except ConfigError:
        raise
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"model.discriminator_kwargs: {exc}") from None


def _build_discriminator(names, kwargs_by_name) -> nn.Module:
    unknown = [n for n in names if n not in DISCRIMINATORS] + \
        [n for n in kwargs_by_name if n not in names]
    if unknown or not names:
        raise ConfigError(f"model.discriminators: unknown or unused {unknown or names} "
                          f"(known: {', '.join(DISCRIMINATORS)})")
    try:
        parts = {n: DISCRIMINATORS[n](**kwargs_by_name.get(n, {})) for n in names}
    except TypeError as exc:
        raise ConfigError(f"model.discriminator_kwargs: {exc}") from None
    return CombinedDiscriminator(discriminators=parts)


def _valid_clip(path, cfg: TrainConfig, log=print) -> Optional[Tensor]:
    try:
        samples = load_audio(path, sample_rate=cfg.sample_rate).samples
    except AudioError as exc:
        if cfg.data.on_bad_file != "skip":
            raise DataError(f"{exc} (set data.on_bad_file=skip to train without it)") from None
        log(f"skipping validation file {exc}")
        return None
    n = min(len(samples), int(cfg.data.valid_seconds * cfg.sample_rate))
    n -= n % cfg.mel.hop_length
    return torch.from_numpy(samples[:n].copy())


def _metric_functions(cfg: TrainConfig, generator: nn.Module, log):
    """Validation metrics of one clip: :func:`audioup.metrics.measure_signal` of the output
    against the real recording, the measurement ``audioup measure --reference`` and
    :mod:`audioup.evaluation` make. A clip the tonal score refuses (too short) is noted once."""
    sr, factors = cfg.sample_rate, list(getattr(generator, "upsample_factors", []) or [])
    hop = cfg.mel.hop_length
    noted = set()

    def metrics(fake: Tensor, real: Tensor) -> Dict[str, float]:
        m = measure_signal(fake.numpy(), sr, factors=factors or None, hop=None if factors else hop,
                           reference=real.numpy(), optional=())
        out = {"val/mrstft": float(m.mrstft)}
        if m.error is None:
            out["val/tonal_score_db"] = float(m.tonal_score_db)
        elif "val/tonal_score_db" not in noted:
            noted.add("val/tonal_score_db")
            log(f"note: val/tonal_score_db not computed ({m.error})")
        return out
    return metrics
