"""The kinds a comparison trains: one training config per upsampler kind (or iSTFT generator).

Each kind's :class:`~audioup.train.config.TrainConfig` is the recipe's with only
``model.upsampler`` (or, for :data:`GENERATOR_KINDS`, the generator) and ``run_dir`` changed.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional, Sequence

from ..layers import parse_upsampler_spec
from ..layers.registry import UPSAMPLER_LABELS
from ..models.registry import PRESETS
from ..train.config import ConfigError, load_config, validate

# every kind but plain subpixel, whose random init is the same checkerboard as transposed's
KINDS = tuple(k for k in UPSAMPLER_LABELS if k != "subpixel")
# "kinds" that swap the recipe's generator for one whose last upsampling stage is an inverse STFT
# (same data, mel, discriminators, losses, training settings); asked for by name (--kinds ... vocos)
GENERATOR_KINDS = ("vocos", "istftnet")
FULL_PRESETS = {"vocos": "base", "istftnet": "v1"}


class CompareError(RuntimeError):
    """The comparison cannot run (the message says why and what to do)."""


def kind_slug(kind: str) -> str:
    """Folder-friendly kind name: ``resize-nearest`` -> ``resize_nearest``."""
    return kind.replace("-", "_")


def check_kinds(kinds: Sequence[str]) -> List[str]:
    """Validate kind names (aliases allowed); duplicates removed, order kept."""
    out = []
    for kind in kinds:
        if "=" in str(kind):
            raise CompareError(f"{kind!r} is not an upsampler kind; key=value overrides go "
                               "right after CONFIG, before the options")
        try:
            if kind not in GENERATOR_KINDS:
                parse_upsampler_spec(kind)
        except ValueError as exc:
            raise CompareError(f"--kinds: {exc} (or a generator: {', '.join(GENERATOR_KINDS)})") from None
        if kind not in out:
            out.append(kind)
    if not out:
        raise CompareError("no upsampler kinds to compare")
    return out


def kind_configs(config, out_dir: Path, kinds: Sequence[str], steps: Optional[int],
                 overrides: Sequence[str] = (), minutes: Optional[float] = None):
    """One :class:`~audioup.train.config.TrainConfig` per kind, differing only in upsampler and run_dir.

    The recipe is read once (with ``overrides``); each kind's config is derived from it
    with :func:`dataclasses.replace` and checked as a training run. A kind of
    :data:`GENERATOR_KINDS` changes the generator instead (:func:`generator_kind_model`).
    """
    base = recipe_config(config, steps, overrides, minutes)
    cfgs = {}
    for kind in kinds:
        model = generator_kind_model(base.model, kind) if kind in GENERATOR_KINDS else \
            dataclasses.replace(base.model, upsampler=kind)
        cfg = dataclasses.replace(base, run_dir=str(out_dir / "runs" / kind_slug(kind)), model=model)
        validate(cfg)
        cfgs[kind] = cfg
    return cfgs


def recipe_config(config, steps: Optional[int] = None, overrides: Sequence[str] = (),
                  minutes: Optional[float] = None):
    """The recipe with ``overrides``, ``steps`` and ``minutes`` (``train.max_minutes``), as every
    kind's config starts from it."""
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key in ("model.upsampler", "run_dir", "max_steps", "train.max_minutes"):
            hint = {"model.upsampler": "--kinds", "run_dir": "--out", "max_steps": "--steps",
                    "train.max_minutes": "--minutes"}[key]
            raise CompareError(f"override {item!r}: compare sets {key} itself; use {hint}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
        raise ConfigError(f"max_steps must be a whole number (got {steps!r})")
    base = load_config(config, overrides, for_run=False)
    if steps is not None:
        base = dataclasses.replace(base, max_steps=steps)
    if minutes is not None:
        if not 0 < minutes < float("inf"):
            raise CompareError(f"--minutes must be a positive number (got {minutes!r})")
        base = dataclasses.replace(base, train=dataclasses.replace(base.train, max_minutes=float(minutes)))
    return base


def generator_kind_model(model, kind: str):
    """The recipe's model section with generator ``kind`` (``vocos``, ``istftnet``) in place of its own.

    The preset follows the recipe's when the generator has one of that name (``tiny``;
    ``v1``/``v2``/``v3`` for iSTFTNet), else the generator's full-size one (``base`` for
    Vocos, ``v1`` for iSTFTNet); the recipe's generator ``kwargs`` and upsampler are dropped.
    Discriminators and their settings stay.
    """
    try:
        PRESETS[kind](model.preset or "")
        preset = model.preset
    except ValueError:
        preset = FULL_PRESETS[kind]
    return dataclasses.replace(model, generator=kind, preset=preset, upsampler=None, kwargs={})
