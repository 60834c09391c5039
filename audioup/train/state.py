"""The training state: what changes while training, what a checkpoint holds, and how it comes back.

- :class:`State`: the (possibly DDP-wrapped) models, their optimizers, learning-rate
  schedulers and gradient scaler, and the step.
- :func:`new_state`: fresh AdamW optimizers and exponential schedulers around a
  :class:`~.setup.Context`'s models.
- :func:`save`: the checkpoint of a state, written atomically, the oldest pruned.
- :func:`restore`: a checkpoint back into a state, everything (a resume) or the weights only
  (``init_from``), refusing a generator or discriminators that differ from the config's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import torch
from torch import nn

from . import distributed as D
from .checkpoint import (FORMAT, VERSION, checkpoint_path, prune_checkpoints, rng_state, save_checkpoint,
                         set_rng_state)
from .config import TrainConfig, to_dict
from .resume import apply_optim_settings, fits
from .setup import Context, mel_settings
from .speed import optimizer_flags, set_optimizer_flags


class TrainingError(RuntimeError):
    """The run cannot go on (non-finite loss, incompatible checkpoint, ...)."""


@dataclass
class State:
    """Everything that changes during training (and is saved in a checkpoint)."""

    generator: nn.Module           # possibly DDP-wrapped
    discriminator: nn.Module       # possibly DDP-wrapped
    optim_g: torch.optim.Optimizer
    optim_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    step: int = 0
    train_seconds: float = 0.0     # time spent in training steps so far, over all resumes


def new_state(cfg: TrainConfig, ctx: Context) -> State:
    """Fresh optimizers and schedulers around the context's models."""
    g, d = ctx.generator, ctx.discriminator
    o = cfg.optim
    flags = optimizer_flags(o.implementation, ctx.device)
    optim_g = torch.optim.AdamW(g.parameters(), o.lr, betas=o.betas, weight_decay=o.weight_decay, **flags)
    optim_d = torch.optim.AdamW(d.parameters(), o.lr, betas=o.betas, weight_decay=o.weight_decay, **flags)
    return State(
        generator=D.wrap(g, ctx.info, ctx.device), discriminator=D.wrap(d, ctx.info, ctx.device),
        optim_g=optim_g, optim_d=optim_d,
        sched_g=torch.optim.lr_scheduler.ExponentialLR(optim_g, gamma=o.lr_decay),
        sched_d=torch.optim.lr_scheduler.ExponentialLR(optim_d, gamma=o.lr_decay),
        scaler=torch.amp.GradScaler(ctx.device.type, enabled=ctx.precision == "fp16"))


def restore(state: State, ckpt: Dict[str, Any], ctx: Context, full: bool, log=print) -> None:
    """Load a checkpoint into ``state``: everything (``full``) or the model weights only.

    Raises:
        TrainingError: the checkpoint's generator, or (``full``) its discriminators, differ
            from the config's. Fine-tuning (not ``full``) starts fresh discriminators instead.
    """
    where = ckpt.get("path", "checkpoint")
    if ckpt["generator_config"] != ctx.generator_config:
        raise TrainingError(f"{where}: its generator "
                            f"{ckpt['generator_config']} differs from the config's "
                            f"{ctx.generator_config}; use another run_dir")
    D.unwrap(state.generator).load_state_dict(ckpt["generator"])
    discriminator = D.unwrap(state.discriminator)
    same_names = "discriminator" in ckpt and ckpt.get("discriminators") == ctx.discriminator_names
    if same_names and fits(discriminator, ckpt["discriminator"]):
        discriminator.load_state_dict(ckpt["discriminator"])
    elif full:
        saved = (ckpt.get("config") or {}).get("model", {}) if isinstance(ckpt.get("config"), dict) else {}
        what = (f"its discriminators {ckpt.get('discriminators')} differ from the config's "
                f"model.discriminators {ctx.discriminator_names}") if not same_names else \
            (f"its discriminators were built with other settings than the config's model.discriminator_kwargs "
             f"{ctx.cfg.model.discriminator_kwargs}"
             + (f" (the checkpoint's: {saved.get('discriminator_kwargs')})" if "discriminator_kwargs" in saved else ""))
        raise TrainingError(f"{where}: {what}; put them back or use another run_dir")
    elif "discriminator" in ckpt:
        log(f"note: {where}: its discriminators do not fit the config's; they start afresh")
    if not full:
        return
    flags = optimizer_flags(ctx.cfg.optim.implementation, ctx.device)
    for optim, key in ((state.optim_g, "optim_g"), (state.optim_d, "optim_d")):
        optim.load_state_dict(ckpt[key])
        set_optimizer_flags(optim, flags)
    state.sched_g.load_state_dict(ckpt["sched_g"])
    state.sched_d.load_state_dict(ckpt["sched_d"])
    apply_optim_settings(((state.optim_g, state.sched_g), (state.optim_d, state.sched_d)), ctx.cfg.optim, log)
    if ckpt.get("scaler"):
        state.scaler.load_state_dict(ckpt["scaler"])
    state.step = int(ckpt["step"])
    state.train_seconds = float(ckpt.get("train_seconds", 0.0))
    set_rng_state(ckpt["rng"])


def save(state: State, ctx: Context, run_dir: Path, keep_last: int) -> Path:
    """Write the checkpoint for ``state.step`` atomically and drop the oldest beyond ``keep_last``."""
    payload = {
        "format": FORMAT, "version": VERSION, "step": state.step,
        "sample_rate": ctx.cfg.sample_rate, "mel": mel_settings(ctx.cfg),
        "generator_config": ctx.generator_config, "discriminators": ctx.discriminator_names,
        "generator": D.unwrap(state.generator).state_dict(),
        "discriminator": D.unwrap(state.discriminator).state_dict(),
        "optim_g": state.optim_g.state_dict(), "optim_d": state.optim_d.state_dict(),
        "sched_g": state.sched_g.state_dict(), "sched_d": state.sched_d.state_dict(),
        "scaler": state.scaler.state_dict() if state.scaler.is_enabled() else {},
        "rng": rng_state(), "config": to_dict(ctx.cfg), "train_seconds": float(state.train_seconds),
    }
    path = save_checkpoint(payload, checkpoint_path(run_dir, state.step))
    prune_checkpoints(run_dir, keep_last)
    return path
