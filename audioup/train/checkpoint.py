"""Checkpoints: atomic writes, keeping the last N, resuming from the newest good one.

A checkpoint is a ``.pt`` file holding only tensors and plain Python
containers (state dicts, the config as a dict, random states as tensors), so
it loads with ``torch.load(weights_only=True)``. Files are named
``ckpt_{step:08d}.pt`` in ``RUN_DIR/checkpoints``; each is written to a
temporary file in the same folder, flushed to disk (fsync) and renamed, so a
crash never leaves a half-written checkpoint under the final name.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

# Reading lives in audioup.models.checkpoint (inference reads checkpoints without training code).
from ..models.checkpoint import (FORMAT, REQUIRED_KEYS, VERSION, CheckpointError,  # noqa: F401
                                 checkpoint_dir, checkpoint_path, list_checkpoints, load_checkpoint,
                                 resolve_checkpoint)


def save_checkpoint(payload: Dict[str, Any], path) -> Path:
    """Write ``payload`` atomically: temporary file, fsync, rename, fsync of the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def prune_checkpoints(run_dir, keep_last: int) -> List[Path]:
    """Delete all but the newest ``keep_last`` checkpoints; returns the deleted paths."""
    found = list_checkpoints(run_dir)
    doomed = [p for _, p in found[:-keep_last]] if keep_last > 0 else []
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


def load_newest(run_dir, map_location="cpu", log=print, quarantine: bool = True) -> Optional[Dict[str, Any]]:
    """The newest checkpoint of ``run_dir`` that loads; corrupt ones are reported and skipped.

    With ``quarantine``, a corrupt checkpoint is renamed to ``*.pt.corrupt`` so that it
    neither shadows nor outlives the checkpoints the resumed run writes (and is kept for
    inspection). Only one process of a distributed run should quarantine.

    Returns ``None`` when the folder has no checkpoints.

    Raises:
        CheckpointError: checkpoints exist but none of them loads.
    """
    found = list_checkpoints(run_dir)
    errors = []
    for _, path in reversed(found):
        try:
            data = load_checkpoint(path, map_location)
        except CheckpointError as exc:
            errors.append(str(exc))
            note = ""
            if quarantine and path.exists():
                path.rename(path.with_name(path.name + ".corrupt"))
                note = f" (renamed to {path.name}.corrupt)"
            log(f"warning: {exc}{note}; falling back to the previous checkpoint")
            continue
        data["path"] = str(path)
        return data
    if errors:
        raise CheckpointError("no usable checkpoint in " f"{checkpoint_dir(run_dir)}:\n  "
                              + "\n  ".join(errors)
                              + "\nmove the folder away (or use another run_dir) to start afresh")
    return None


# ----------------------------------------------------------------------------- random states


def rng_state() -> Dict[str, Any]:
    """torch (CPU and CUDA), numpy and Python random states as tensors / plain values."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_meta": [str(np_state[0]), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    name, pos, has_gauss, cached = state["numpy_meta"]
    keys = state["numpy_keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state((name, keys, int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]][:torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)
