"""Speed settings of a run that keep its math: the AdamW implementation, channels-last, compile.

- ``optim.implementation``: ``auto`` (fused AdamW on CUDA and CPU: one kernel for all
  parameters), ``fused``, ``foreach`` or ``for-loop`` (one update per tensor). Clipping
  follows it (foreach unless ``for-loop``). A checkpoint's optimizer state loads under any
  of them (:func:`set_optimizer_flags`).
- ``train.channels_last``: the discriminators' 2D convolutions (MPD, MRD) in channels-last
  layout, meant to spare cuDNN's NCHW <-> NHWC conversions in bf16.
- ``train.compile``: ``torch.compile`` of generator and discriminator in place (state-dict
  keys unchanged); ``reduce-overhead`` replays CUDA graphs.
- :func:`cpu_threads`: ``train.threads`` for the length of a run (or a comparison).
- :func:`cudnn_autotune`: on CUDA the loop lets cuDNN time its algorithms for the fixed
  training shapes (``cudnn.benchmark``, as HiFi-GAN's own training does).

channels-last and compile are off by default: they have not been measured on a GPU yet
(``benchmarks/bench_train_step.py --device cuda --compile`` does).
"""
from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Optional

import torch

from .config import ConfigError
from .setup import Context

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def apply_speed_options(ctx: Context) -> None:
    """``train.channels_last`` and ``train.compile`` on the context's models, in place.

    Both keep the math (and the state-dict keys); neither is on by default because
    neither has been measured to pay on a GPU yet. ``reduce-overhead`` replays CUDA graphs.
    """
    t = ctx.cfg.train
    if t.channels_last:
        ctx.discriminator.to(memory_format=torch.channels_last)  # 4D weights only: MPD, MRD
    if t.compile:
        if t.compile not in COMPILE_MODES:
            raise ConfigError(f"train.compile must be null or one of {', '.join(COMPILE_MODES)} "
                              f"(got {t.compile!r})")
        ctx.generator.compile(mode=t.compile)
        ctx.discriminator.compile(mode=t.compile)


OPTIMIZER_IMPLEMENTATIONS = ("auto", "fused", "foreach", "for-loop")


def optimizer_flags(implementation: str, device: torch.device) -> Dict[str, bool]:
    """AdamW's ``fused`` / ``foreach`` flags for ``optim.implementation`` (the same math each way).

    ``auto`` is ``fused`` (one kernel for all parameters) on CUDA and CPU, ``foreach`` elsewhere.
    """
    if implementation not in OPTIMIZER_IMPLEMENTATIONS:
        raise ConfigError(f"optim.implementation must be one of {', '.join(OPTIMIZER_IMPLEMENTATIONS)} "
                          f"(got {implementation!r})")
    if implementation == "auto":
        implementation = "fused" if device.type in ("cuda", "cpu") else "foreach"
    return {"fused": implementation == "fused", "foreach": implementation == "foreach"}


def set_optimizer_flags(optim: torch.optim.Optimizer, flags: Dict[str, bool]) -> None:
    """Apply ``flags`` after ``load_state_dict`` (which restores the saving run's flags), with
    the step counters where that implementation keeps them (fused: on the parameters' device)."""
    for group in optim.param_groups:
        group.update(flags)
        for p in group["params"]:
            st = optim.state.get(p, {})
            if torch.is_tensor(st.get("step")):
                st["step"] = st["step"].to(p.device if flags["fused"] else "cpu", torch.float32)


@contextlib.contextmanager
def cpu_threads(threads: Optional[int]) -> Iterator[None]:
    """torch's CPU thread count set to ``threads`` inside the block (unchanged if ``None``), restored after it."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` on for CUDA inside the block, restored after it."""
    before = torch.backends.cudnn.benchmark
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed segment shapes: pick the fastest algorithms
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before
