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
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

FORMAT = "audioup-checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")
REQUIRED_KEYS = ("format", "version", "step", "generator", "generator_config", "mel", "sample_rate")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file."""


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


def load_checkpoint(path, map_location="cpu") -> Dict[str, Any]:
    """Load and sanity-check one checkpoint (``weights_only=True``).

    Raises:
        CheckpointError: missing, truncated/corrupt, or not an audioup checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes); the write was probably interrupted")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip errors, pickle errors, unexpected EOF ...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({msg[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an audioup checkpoint")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint (missing {', '.join(missing)})")
    if data["version"] > VERSION:
        raise CheckpointError(f"{path}: written by a newer audioup (format {data['version']})")
    return data


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
