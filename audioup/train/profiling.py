"""What a training step costs beyond its arithmetic: ops, kernel launches, host syncs.

:func:`profile_steps` runs the loop's own step (:func:`~.step.train_step` with
:class:`~.step.LossMonitor`, checking every ``check_interval`` steps as the loop does
at its log interval) under ``torch.profiler`` and counts per step:

- ``ops``: ATen operators called from Python or from the autograd engine (nested
  ATen calls are not counted again): the dispatch overhead, on any device;
- ``kernels``: GPU kernels and copies (CUDA only; ``None`` on CPU);
- ``syncs``: reads of device values by the host outside the optimizer (``.item()``,
  ``.tolist()``, ``bool(tensor)``); on CUDA the runtime's synchronisations instead;
- ``weight_norms``: weight-norm evaluations (one per parametrised convolution call);
- ``gpu_busy``: on CUDA, the summed kernel and copy time over the profiled wall time (the
  profiler's own overhead lengthens the wall time, so this is a lower bound).

AdamW's own ``.item()`` calls read its step counters, which live on the CPU by design
(no device sync), so the optimizer is left out of the CPU sync count.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Optional

import torch
from torch import Tensor
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from .setup import Context
from .state import State
from .step import LossMonitor, train_step

CUDA_SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")
HOST_READS = ("aten::_local_scalar_dense",)   # .item(), bool(tensor)
TOLIST = "aten::resolve_conj"                 # .tolist() / .numpy() start with this one
OPTIMIZER = "Optimizer.step#"


@dataclass
class StepCounts:
    """Per-step averages over ``steps`` profiled steps (see the module docstring)."""

    steps: int
    ops: float
    syncs: float
    weight_norms: float
    kernels: Optional[float] = None
    gpu_busy: Optional[float] = None
    seconds: float = 0.0   # per step under the profiler (slower than without it)


def run_steps(state: State, ctx: Context, batches: Iterable[Tensor], check_interval: int) -> None:
    """The loop's inner part: a step, the monitor's update, a check every ``check_interval`` steps."""
    monitor = LossMonitor(state.step)
    for batch in batches:
        monitor.update(state.step + 1, train_step(state, batch, ctx))
        state.step += 1
        if state.step % check_interval == 0:
            monitor.check(state.step)


def profile_steps(state: State, ctx: Context, batches: list, check_interval: int) -> StepCounts:
    """Profile :func:`run_steps` over ``batches`` (run a few steps before, to warm up)."""
    cuda = ctx.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize(ctx.device)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        run_steps(state, ctx, batches, check_interval)
        if cuda:
            torch.cuda.synchronize(ctx.device)
    wall = time.perf_counter() - start
    n = len(batches)
    ops = syncs = norms = kernels = 0
    busy_us = 0.0
    for e in prof.events():
        if e.device_type == DeviceType.CUDA:
            kernels += 1
            busy_us += e.time_range.elapsed_us()
            continue
        if cuda and e.name in CUDA_SYNCS:
            syncs += 1
        if not e.name.startswith("aten::"):
            continue
        ancestors = _ancestors(e)
        if e.name == "aten::_weight_norm":
            norms += 1
        if not any(a.startswith("aten::") for a in ancestors):
            ops += 1
            if not cuda and e.name == TOLIST and not _in_optimizer(ancestors):
                syncs += 1
        if not cuda and e.name in HOST_READS and not _in_optimizer(ancestors):
            syncs += 1
    return StepCounts(steps=n, ops=ops / n, syncs=syncs / n, weight_norms=norms / n,
                      kernels=kernels / n if cuda else None,
                      gpu_busy=min(1.0, busy_us * 1e-6 / wall) if cuda else None, seconds=wall / n)


def _ancestors(event) -> list:
    names, parent = [], event.cpu_parent
    while parent is not None:
        names.append(parent.name)
        parent = parent.cpu_parent
    return names


def _in_optimizer(ancestors) -> bool:
    return any(a.startswith(OPTIMIZER) for a in ancestors)
