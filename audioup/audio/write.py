"""Writing audio files atomically: a run that stops half-way never leaves a partial file.

- :func:`save_audio`: an array or tensor of samples into a WAV/FLAC/OGG/AIFF file.
- :func:`write_audio`: blocks of samples encoded one after another (memory is one block,
  whatever the length), the file renamed into place when the last block is in.

A full disk is reported as the ``OSError`` it is (libsndfile alone would say "System
error."), and an earlier file under the same name is kept.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from .fs import atomic_write

# soundfile is imported in write_audio, as in .io: `import audioup.audio` reads and writes no file.

SAVE_BLOCK = 1 << 20   # samples encoded at a time by save_audio


def save_audio(path, samples, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write ``samples`` (``(T,)`` or ``(C, T)``, array or tensor) atomically.

    The file is written next to its destination under a temporary name and then
    renamed, so an interrupted run never leaves a half-written WAV. Samples are
    clipped to [-1, 1] for integer subtypes.
    """
    if hasattr(samples, "detach"):
        samples = samples.detach().cpu().float().numpy()
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.T
    channels = samples.shape[1] if samples.ndim == 2 else 1
    blocks = (samples[start:start + SAVE_BLOCK] for start in range(0, max(len(samples), 1), SAVE_BLOCK))
    return write_audio(path, blocks, sample_rate, channels, subtype)


def write_audio(path, blocks: Iterable, sample_rate: int, channels: int = 1, subtype: str = "PCM_16") -> Path:
    """Encode ``blocks`` of samples (``(n,)`` or ``(n, channels)`` each) into ``path``, atomically.

    The file is written block by block into a temporary file beside ``path``, renamed
    when the last block is in: memory is one block whatever the length, and an
    interrupted run (an exception from ``blocks``, a full disk, Ctrl-C) leaves no
    partial output. Samples are clipped to [-1, 1] for integer subtypes.

    Raises:
        OSError: the write failed (``errno.ENOSPC`` on a full disk); whatever ``blocks``
            raises. The temporary file is removed and an earlier ``path`` kept.
    """
    import soundfile as sf

    path = Path(path)

    def encode(f) -> None:
        guarded = _GuardedFile(f)
        try:
            with sf.SoundFile(guarded, "w", int(sample_rate), int(channels), subtype,
                              format=_format_for(path)) as out:
                for block in blocks:
                    block = np.asarray(block.detach().cpu() if hasattr(block, "detach") else block,
                                       dtype=np.float32)
                    out.write(np.clip(block, -1.0, 1.0) if subtype.startswith("PCM") else block)
                    if guarded.error is not None:
                        break
        except Exception:
            if guarded.error is None:
                raise
        if guarded.error is not None:  # libsndfile would only say "System error."
            raise guarded.error

    return atomic_write(path, encode)


class _GuardedFile:
    """The file soundfile writes through, keeping the first ``OSError`` (a full disk).

    soundfile calls these methods from C callbacks, where an exception is printed and
    lost; :func:`write_audio` raises the kept one once libsndfile gives up.
    """

    def __init__(self, f):
        self.f, self.error = f, None

    def _call(self, fn, *args, failed):
        if self.error is not None:
            return failed
        try:
            return fn(*args)
        except OSError as exc:
            self.error = exc
            return failed

    def write(self, data):
        return self._call(self.f.write, data, failed=0)

    def seek(self, offset, whence=0):
        return self._call(self.f.seek, offset, whence, failed=-1)

    def tell(self):
        return self._call(self.f.tell, failed=-1)

    def read(self, n=-1):
        return self._call(self.f.read, n, failed=b"")


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "aiff": "AIFF", "aif": "AIFF"}.get(ext, "WAV")
