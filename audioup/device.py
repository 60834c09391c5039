"""Picking the torch device a command runs on (a leaf module: imports nothing from audioup).

Training (:mod:`audioup.train.distributed`, one device per torchrun rank) and inference
(``audioup vocode``, ``compare``) share :func:`resolve_device`, so ``--device auto``
means the same everywhere and inference needs no training code.
"""
from __future__ import annotations

import torch


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.

    Raises:
        RuntimeError: a CUDA device is named but CUDA is not available, or the name is
            not a torch device.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {name!r} requested but this machine has "
                               f"{torch.cuda.device_count()} CUDA device(s)")
    return device
