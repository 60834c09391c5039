"""Running under ``torchrun``: process group, device per rank, helpers that are no-ops alone.

``torchrun --nproc_per_node N -m audioup train CONFIG ...`` sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`setup` then joins the process group
(NCCL on GPUs, gloo on CPU) and picks ``cuda:LOCAL_RANK``. A plain process is
rank 0 of 1 and never touches ``torch.distributed``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch.nn.parallel import DistributedDataParallel
import torch.distributed as dist

from ..device import resolve_device


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_name: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; returns the rank info and device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = DistInfo(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)
    device = resolve_device(device_name, info.local_rank)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return info, device


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ranks (the tensor itself when alone)."""
    if dist.is_available() and dist.is_initialized():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= dist.get_world_size()
    return values


def all_reduce_min(values: torch.Tensor) -> torch.Tensor:
    """Element-wise minimum of ``values`` over ranks (the tensor itself when alone)."""
    if dist.is_available() and dist.is_initialized():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.MIN)
    return values


def broadcast_from_main(values: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``values`` on every rank (the tensor itself when alone): one decision for all."""
    if dist.is_available() and dist.is_initialized():
        values = values.clone()
        dist.broadcast(values, src=0)
    return values


def wrap(module: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``module`` when distributed, else the module."""
    if not info.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)
