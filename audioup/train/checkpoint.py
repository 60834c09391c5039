"""Checkpoints: atomic writes, keeping the last N, resuming from the newest good one.

A checkpoint is a ``.pt`` file holding only tensors and plain Python
containers (state dicts, the config as a dict, random states as tensors), so
it loads with ``torch.load(weights_only=True)``. Files are named
``ckpt_{step:08d}.pt`` in ``RUN_DIR/checkpoints``; each is written to a
temporary file in the same folder, flushed to disk (fsync) and renamed, so a
crash never leaves a half-written checkpoint under the final name. A run holds
:func:`run_lock` on its folder, so two trainers never share one; the lock file is opened
with ``O_NOFOLLOW`` and must be a regular file (never written through a link), and the
folder's ``checkpoints``, ``logs`` and ``config.yaml`` must be of the right kind
(:func:`check_run_layout`) before a step is trained.
"""
from __future__ import annotations

import contextlib
import errno
import os
import random
import stat
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch

from ..audio.fs import atomic_write, is_disk_full, remove_stale_temporaries
# Reading lives in audioup.models.checkpoint (inference reads checkpoints without training code).
from ..models.checkpoint import (FORMAT, REQUIRED_KEYS, VERSION, CheckpointError,  # noqa: F401
                                 CorruptCheckpointError, checkpoint_dir, checkpoint_path,
                                 list_checkpoints, load_checkpoint, resolve_checkpoint)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not protected from each other
    fcntl = None


def save_checkpoint(payload: Dict[str, Any], path) -> Path:
    """Write ``payload`` atomically: temporary file, fsync, rename, fsync of the folder.

    Raises:
        CheckpointError: the disk is full (the previous checkpoints are intact).
    """
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise CheckpointError(f"{path}: is a {'symbolic link' if path.is_symlink() else 'folder or special file'}, "
                              "not a checkpoint; move it out of the run folder and resume")
    try:
        return atomic_write(path, lambda f: torch.save(payload, f), fsync=True)
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        step = payload.get("step", "") if isinstance(payload, dict) else ""
        raise CheckpointError(f"{path}: disk full while writing checkpoint {step}".rstrip()
                              + "; the previous checkpoint is intact (free some space and resume)") from None


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
    inspection). Only one process of a distributed run should quarantine. Only a file
    that does not decode is skipped: one that cannot be read for an OS reason
    (permissions) or that a newer audioup wrote stops the run, so that it never falls
    back to an older step behind the user's back.

    Returns ``None`` when the folder has no checkpoints.

    Raises:
        CheckpointError: checkpoints exist but none of them loads, or the newest
            readable-looking one cannot be read / is from a newer version.
    """
    found = list_checkpoints(run_dir)
    errors = []
    for _, path in reversed(found):
        try:
            data = load_checkpoint(path, map_location)
        except CorruptCheckpointError as exc:
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


# ----------------------------------------------------------------------------- the run lock

LOCK_NAME = "train.lock"


@contextlib.contextmanager
def run_lock(run_dir, enabled: bool = True, log=print) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` while training; clean up after killed runs.

    A second process training into the same folder would mix checkpoints, the
    config and the logs of two runs; it gets a :class:`CheckpointError` naming the
    holder's process id instead. Under the lock, temporary checkpoint files that a
    killed run left behind are deleted. The lock is an ``flock`` on
    ``RUN_DIR/train.lock``: the system releases it when the holder exits, however
    it exits. ``enabled=False`` (the other ranks of a distributed run) does nothing.
    """
    if not enabled:
        yield
        return
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open_lock_file(run_dir / LOCK_NAME)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "unknown"
                raise CheckpointError(f"{run_dir}: another training process (pid {holder}) is using "
                                      "this run folder; wait for it to finish or use another run_dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        check_run_layout(run_dir)
        stale = remove_stale_temporaries(checkpoint_dir(run_dir), "ckpt_*")
        if stale:
            log(f"removed {len(stale)} temporary checkpoint file(s) left by an interrupted run")
        yield
    finally:
        fh.close()


RUN_FOLDERS = ("checkpoints", "logs")
RUN_FILES = ("config.yaml",)


def check_run_layout(run_dir) -> None:
    """Refuse a run folder whose ``checkpoints`` or ``logs`` is not a folder, or whose
    ``config.yaml`` is not a file, before anything is trained (the run would fail at its
    first checkpoint or log line).

    Raises:
        CheckpointError: naming the entry and what it is.
    """
    run_dir = Path(run_dir)
    for name in RUN_FOLDERS + RUN_FILES:
        p = run_dir / name
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            if p.is_symlink():
                raise CheckpointError(f"{p}: is a dangling symbolic link (remove it)") from None
            continue
        except OSError as exc:
            why = "a symbolic link loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
            raise CheckpointError(f"{p}: {why} (remove it)") from None
        if name in RUN_FOLDERS and not stat.S_ISDIR(mode):
            raise CheckpointError(f"{p}: is a file, but the run keeps its {name} in a folder of this name "
                                  "(move it away)")
        if name in RUN_FILES and not stat.S_ISREG(mode):
            raise CheckpointError(f"{p}: is a folder or special file, but the run writes its settings "
                                  "there (move it away)")


def open_lock_file(path: Path):
    """``path`` opened for reading and writing, created if missing, never through a link.

    ``O_NOFOLLOW`` refuses a symbolic link (a link planted as ``train.lock`` would make the
    trainer truncate and overwrite its target), and the opened file must be a regular file
    (not a folder, FIFO or device); ``O_NONBLOCK`` keeps a FIFO from blocking the open.

    Raises:
        CheckpointError: the path is a link, a folder or not a regular file (naming it).
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise CheckpointError(f"{path}: is a symbolic link; the run lock is never written through a "
                                  "link (remove it)") from None
        if exc.errno == errno.EISDIR:
            raise CheckpointError(f"{path}: is a folder, not the run's lock file (remove it)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CheckpointError(f"{path}: is not a regular file (a FIFO or device?); the run lock must be a "
                              "plain file (remove it)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "r+")


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
