"""Reading audio files, with errors that name the file and the problem.

Every loader in audioup goes through :func:`load_audio`, so bad input (an empty
file, a truncated or corrupt one, a text file named ``.wav``, NaN samples, too
few samples) is reported the same way everywhere: as an :class:`AudioError`
whose message starts with the path. :func:`find_audio_files` expands files and folders
into the files to read; writing is :mod:`.write`'s.
"""
from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence

import numpy as np

# soundfile, and torch / torchaudio for resampling, are imported in the functions that use them:
# this module is on the `audioup measure` path, which loads no torch (and `import audioup.metrics`
# reads no file).

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000


class AudioError(ValueError):
    """A file that cannot be used as audio. ``str(err)`` is ``"PATH: problem"``."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class AudioFile:
    """Samples of one file after loading.

    Attributes:
        samples: float32 array, shape ``(T,)`` when mono, ``(C, T)`` otherwise.
        sample_rate: rate of ``samples`` in Hz (after any resampling).
        path: where it came from.
        channels: channel count of the file on disk.
        original_rate: sample rate of the file on disk.
        notes: what was done to the audio on the way (downmix, resampling).
    """

    samples: np.ndarray
    sample_rate: int
    path: str
    channels: int
    original_rate: int
    notes: List[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.samples.shape[-1] / float(self.sample_rate)


def audio_info(path):
    """Header of an audio file (rate, channels, frames) without reading samples.

    Raises:
        AudioError: missing, empty or unreadable file.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(path, _missing(path, "file not found"))
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    kind = _not_regular(path.stat().st_mode)
    if kind:  # reading a FIFO would wait for a writer; a device is no audio file
        raise AudioError(path, f"is {kind}, not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:  # permission denied is not "not audio"
        raise AudioError(path, f"cannot open ({exc.strerror or exc})") from None
    try:
        return sf.info(_sf_name(path))
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError
        raise AudioError(path, f"not a readable audio file ({_short(exc)})") from None


def load_audio(
    path,
    sample_rate: Optional[int] = None,
    mono: bool = True,
    min_samples: int = 1,
    start: int = 0,
    frames: int = -1,
) -> AudioFile:
    """Read an audio file as float32, checked.

    Args:
        path: file to read.
        sample_rate: resample to this rate (torchaudio's band-limited resampler);
            ``None`` keeps the file's rate.
        mono: average the channels of a multichannel file (recorded in ``notes``).
        min_samples: fewer samples than this (after resampling) is an error.
        start, frames: read only part of the file (in the file's own samples).

    Returns:
        An :class:`AudioFile`.

    Raises:
        AudioError: empty, corrupt or non-audio file; NaN or Inf samples;
            a sample rate outside 1 kHz..384 kHz; too short.
    """
    import soundfile as sf

    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "contains no samples")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"unsupported sample rate {info.samplerate} Hz "
                               f"(expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)")
    try:
        data, sr = sf.read(_sf_name(path), dtype="float32", always_2d=True, start=start, frames=frames)
    except Exception as exc:
        raise AudioError(path, f"could not decode samples ({_short(exc)}); the file may be truncated") from None
    if data.shape[0] == 0:
        raise AudioError(path, "contains no samples")
    data = data.T  # (C, T)
    notes: List[str] = []
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioError(path, f"contains {bad} NaN or Inf samples")
    channels = data.shape[0]
    if mono and channels > 1:
        data = data.mean(axis=0, keepdims=True)
        notes.append(f"mixed {channels} channels down to mono (mean)")
    if sample_rate is not None and sample_rate != sr:
        data = resample(data, sr, sample_rate)
        notes.append(f"resampled {sr} Hz -> {sample_rate} Hz")
        sr = sample_rate
    if data.shape[-1] < min_samples:
        raise AudioError(path, f"too short: {data.shape[-1]} samples at {sr} Hz, "
                               f"need at least {min_samples}")
    samples = data[0] if data.shape[0] == 1 else data
    return AudioFile(np.ascontiguousarray(samples, dtype=np.float32), int(sr), str(path),
                     channels, int(info.samplerate), notes)


def read_blocks(path, block: int, info=None) -> Iterator[np.ndarray]:
    """Stream a file as mono float32 blocks of ``block`` samples (the last one shorter).

    Channels are mixed down with the mean. Memory is one block, whatever the
    file's length. 16-bit PCM is read as integers and scaled here (``x / 32768``,
    the same float32 values libsndfile gives, at a quarter of its cost, and
    integers need no NaN check).

    Raises:
        AudioError: NaN or Inf samples (with where), or samples that cannot be
            decoded (the file may be truncated).
    """
    import soundfile as sf

    info = info or audio_info(path)
    read = 0
    try:
        with sf.SoundFile(_sf_name(path)) as f:
            pcm16 = getattr(info, "subtype", None) == "PCM_16"
            raw = np.empty((int(block), f.channels), np.int16) if pcm16 else None
            while True:
                if pcm16:
                    data = f.read(int(block), dtype="int16", always_2d=True, out=raw)
                    if data.shape[0] == 0:
                        return
                    data = np.multiply(data[:, 0] if data.shape[1] == 1 else data, np.float32(1 / 32768),
                                       dtype=np.float32)  # one pass: exact (a power of 2)
                else:
                    data = f.read(int(block), dtype="float32", always_2d=f.channels > 1)
                    if data.shape[0] == 0:
                        return
                    if not np.isfinite(data).all():
                        bad = int((~np.isfinite(data)).sum())
                        raise AudioError(path, f"contains NaN or Inf samples ({bad} in the block "
                                               f"starting at {read / info.samplerate:.2f} s)")
                read += data.shape[0]
                yield data.mean(axis=1) if data.ndim > 1 else data
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(path, f"could not decode samples after {read / info.samplerate:.2f} s "
                               f"({type(exc).__name__}: {exc}); the file may be truncated") from None


_SAMPLE_BYTES = {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def wav_declared_frames(path, info) -> Optional[int]:
    """Frames a RIFF/WAVE header's ``data`` chunk declares (``None`` if not a plain WAV).

    libsndfile quietly reads a truncated WAV as a shorter one; comparing the
    declared size with what was read tells the user their file was cut.
    """
    width = _SAMPLE_BYTES.get(getattr(info, "subtype", ""))
    if width is None or getattr(info, "format", "WAV") not in ("WAV", "WAVEX"):
        return None
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if cid == b"data":
            if size in (0, 0xFFFFFFFF):  # streamed or RF64 placeholder
                return None
            return size // (width * max(1, info.channels))
        pos += 8 + size + (size & 1)
    return None


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling of ``(..., T)`` float samples with torchaudio."""
    import torch
    import torchaudio.functional as AF

    if orig_rate == new_rate:
        return samples
    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), int(orig_rate), int(new_rate))
    return out.numpy()


class AudioStream:
    """One file as mono float32 samples at ``sample_rate``, read forward in windows.

    ``read(a, b)`` gives samples ``[a, b)`` of what ``load_audio(path, sample_rate)``
    returns (channels mixed with the mean, torchaudio's band-limited resampler; the same
    to float rounding), holding only the file samples the window needs: memory is one
    window, whatever the file's length. A window may overlap the previous one but not
    start before it.

    Attributes:
        length: samples at ``sample_rate`` (``ceil(frames * sample_rate / file rate)``).
        info: the file's header.

    Raises:
        AudioError: as :func:`load_audio` (an empty file, an unsupported rate); while
            reading, NaN/Inf or undecodable samples (naming where).
    """

    BLOCK = 1 << 16

    def __init__(self, path, sample_rate: int):
        self.path, self.info = path, audio_info(path)
        if self.info.frames == 0:
            raise AudioError(path, "contains no samples")
        if not MIN_SAMPLE_RATE <= self.info.samplerate <= MAX_SAMPLE_RATE:
            raise AudioError(path, f"unsupported sample rate {self.info.samplerate} Hz "
                                   f"(expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)")
        self.file_rate, self.sample_rate = int(self.info.samplerate), int(sample_rate)
        g = math.gcd(self.file_rate, self.sample_rate)
        self._o, self._n = self.file_rate // g, self.sample_rate // g  # file samples per period, out samples
        self.length = -(-int(self.info.frames) * self._n // self._o)
        # half the resampling kernel, in file samples (torchaudio: 6 zero crossings, rolloff 0.99), and one more
        self._width = math.ceil(6 * self._o / (0.99 * min(self._o, self._n))) + 1
        self._blocks = read_blocks(path, self.BLOCK, self.info)
        self._buffer = np.empty(0, np.float32)
        self._start = 0   # file sample index of _buffer[0]
        self._done = False

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)`` at :attr:`sample_rate` (cut at :attr:`length`)."""
        b = min(int(b), self.length)
        if b <= a:
            return np.empty(0, np.float32)
        if self._o == self._n:
            return self._file(a, b).copy()
        first = max(0, a // self._n - math.ceil(self._width / self._o))  # the kernel's reach before a
        stop = -(-b // self._n) * self._o + self._width + self._o        # and after b
        x = self._file(first * self._o, stop)
        offset = first * self._n  # x's output sample 0 is this sample of the whole file's
        return resample(x[None], self.file_rate, self.sample_rate)[0, a - offset:b - offset]

    def _file(self, a: int, b: int) -> np.ndarray:
        """File samples ``[a, b)`` (cut at the end); drops what lies before ``a``."""
        if a < self._start:
            raise ValueError(f"AudioStream.read went back to {a} (held from {self._start})")
        drop = min(a - self._start, len(self._buffer))
        self._buffer, self._start = self._buffer[drop:], self._start + drop
        parts = [self._buffer]
        held = len(self._buffer)
        while not self._done and self._start + held < b:
            try:
                block = next(self._blocks)
            except StopIteration:
                self._done = True
                break
            if held == 0:  # a window past the buffer: skip what it does not need
                skip = min(max(0, a - self._start), len(block))
                block, self._start = block[skip:], self._start + skip
            parts.append(block)
            held += len(block)
        if len(parts) > 1:
            self._buffer = np.concatenate(parts)
        return self._buffer[:max(0, b - self._start)]


def find_audio_files(paths: Iterable, extensions: Sequence[str] = AUDIO_EXTENSIONS,
                     skipped: Optional[List[AudioError]] = None) -> List[Path]:
    """Expand files and folders (recursively) into a sorted list of audio files.

    A file named explicitly is kept whatever its extension (so that a bad file
    is reported rather than silently skipped); folders contribute files with
    one of ``extensions`` (symbolic links to folders are not followed). A missing
    path raises :class:`AudioError`.

    Args:
        skipped: if given, gets an :class:`AudioError` for each folder entry passed
            over: a name with an audio extension that is no regular file (a FIFO, a
            device, a dangling link, a link loop) and a subfolder that cannot be read.
    """
    out: List[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(_walk_audio(p, extensions, skipped))
        elif p.exists():
            out.append(p)
        else:
            raise AudioError(p, _missing(p, "no such file or folder"))
    seen, unique = set(), []
    for f in out:
        if f not in seen:
            seen.add(f)
            unique.append(f)
    return unique


def _walk_audio(folder: Path, extensions: Sequence[str], skipped: Optional[List[AudioError]]) -> List[Path]:
    """The audio files under ``folder``, sorted as ``sorted(folder.rglob("*"))`` sorts them."""
    def unreadable(exc: OSError) -> None:
        if skipped is not None:
            skipped.append(AudioError(exc.filename or folder, f"cannot read this folder "
                                                              f"({exc.strerror or exc}); its files were skipped"))

    found = []
    for top, _, names in os.walk(folder, onerror=unreadable):
        for name in names:
            f = Path(top) / name
            if f.suffix.lower() not in extensions:
                continue
            if f.is_file():
                found.append(f)
            elif skipped is not None:
                try:
                    kind = _not_regular(f.stat().st_mode) or "not a regular file"
                    problem = f"is {kind}, not a regular file; skipped"
                except OSError:
                    problem = _missing(f, "cannot be read") + "; skipped"
                skipped.append(AudioError(f, problem))
    return sorted(found)


def _not_regular(mode: int) -> Optional[str]:
    """What a non-regular, non-folder file is (``None`` for a regular file or a folder)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a special file")


def _sf_name(path):
    """The name soundfile opens: bytes, so that a name that is not valid UTF-8 opens too."""
    return os.fsencode(path)


def _missing(path: Path, default: str) -> str:
    """Why ``path.exists()`` is false: really missing, a dangling link or a link loop."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link points back to itself)"
        if path.is_symlink():
            return f"dangling symbolic link (to {os.readlink(path)})"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"cannot open ({exc.strerror})"
    return default


def _short(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()
    return msg[-1] if msg else type(exc).__name__
