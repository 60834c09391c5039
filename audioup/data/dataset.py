"""Training data: a checked list of WAV files cut into random fixed-length segments.

:func:`collect_files` expands files, folders and filelists; :func:`check_files`
reads every header before training and reports unreadable or too-short files by
name; :class:`SegmentDataset` returns random ``segment_length``-sample mono
segments at the training rate, resampling files whose rate differs. Small
corpora are decoded once and kept in memory. A file whose samples turn out to
be unusable only when decoded (NaN or Inf samples, a truncated body) stops the
run with a :class:`DataError` naming it, or with ``on_bad_file="skip"`` is
dropped, reported and counted (:attr:`SegmentDataset.skipped`), also inside
DataLoader workers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..audio.io import AUDIO_EXTENSIONS, AudioError, audio_info, find_audio_files, load_audio
from ..progress import progress_bar


class DataError(ValueError):
    """The training data cannot be used (the message lists the files and why)."""


def error_message(exc: BaseException) -> str:
    """``str(exc)`` without the worker traceback a DataLoader adds to errors raised in a worker."""
    text = str(exc)
    if "Original Traceback" not in text:
        return text
    name = type(exc).__name__
    last = [line for line in text.strip().splitlines() if line.strip()][-1]
    return last.split(f"{name}: ", 1)[-1]


def _bad_file(path, problem: str) -> DataError:
    return DataError(f"{path}: {problem} (set data.on_bad_file=skip to train without it)")


@dataclass
class FileCheck:
    """Result of :func:`check_files`: usable files with their length at the
    training rate, and ``(path, problem)`` for the others."""

    good: List[Path] = field(default_factory=list)
    lengths: List[int] = field(default_factory=list)
    bad: List[Tuple[Path, str]] = field(default_factory=list)

    def report(self, limit: int = 20) -> str:
        lines = [f"  {p}: {why}" for p, why in self.bad[:limit]]
        if len(self.bad) > limit:
            lines.append(f"  ... and {len(self.bad) - limit} more")
        return "\n".join(lines)


FILELIST_SUFFIX = ".txt"


def collect_files(files: Sequence = (), filelist: Optional[str] = None) -> List[Path]:
    """Audio files from paths (files, folders or filelists) and an optional filelist.

    A filelist has one path per line (blank lines and ``#`` comments ignored;
    anything after a ``|`` is dropped, as in LJSpeech-style lists); relative
    paths are relative to the filelist's folder. An entry without an audio
    extension is an audio ID, as in the official HiFi-GAN filelists
    (``LJ001-0001|text|text`` or ``wavs/LJ001-0001|text``): ``ID.wav`` beside the
    filelist, or else in its ``wavs/`` folder (:func:`read_filelist`). A ``.txt`` file among
    ``files`` is read as a filelist too, so ``data.valid_files`` can name the
    ``val.txt`` that the data scripts write.

    Raises:
        DataError: a path or the filelist does not exist.
    """
    paths: List[Path] = []
    for p in map(Path, files):
        paths.extend(read_filelist(p) if p.suffix.lower() == FILELIST_SUFFIX else [p])
    if filelist:
        paths.extend(read_filelist(filelist))
    try:
        return find_audio_files(paths)
    except AudioError as exc:
        raise DataError(str(exc)) from None


# The script that writes a dataset's filelists, by the name of the folder they live in.
PREPARE_SCRIPTS = {"ljspeech": "prepare_ljspeech.py {}", "vctk": "prepare_vctk.py {}",
                   "libritts": "prepare_libritts.py {}", "corpus": "build_corpus.py --out {}"}
# OUT/speech, OUT/music of data_scripts/prepare_offline.py (the recipes use OUT = data/offline)
OFFLINE_CORPORA = {"speech": "", "music": " --corpus music"}


def _prepare_hint(listing: Path) -> str:
    """What to run when a dataset's filelist is missing (``""`` for folders of no known dataset).

    >>> _prepare_hint(Path("data/ljspeech/train.txt"))
    '; prepare the data first: python data_scripts/prepare_ljspeech.py data/ljspeech'
    >>> _prepare_hint(Path("data/offline/music/train.txt"))
    '; prepare the data first: python data_scripts/prepare_offline.py --out data/offline --corpus music'
    """
    folder = listing.parent
    script = PREPARE_SCRIPTS.get(folder.name.lower())
    if folder.parent.name.lower() == "offline" and folder.name.lower() in OFFLINE_CORPORA:
        script = "prepare_offline.py --out {}" + OFFLINE_CORPORA[folder.name.lower()]
        folder = folder.parent
    if script is None:
        return ""
    where = folder.relative_to(Path.cwd()) if folder.is_absolute() and folder.is_relative_to(Path.cwd()) else folder
    return f"; prepare the data first: python data_scripts/{script.format(where)}"


MAX_FILELIST_BYTES = 1 << 28  # 256 MiB: millions of lines


def read_filelist(listing) -> List[Path]:
    """The paths a filelist names (relative ones resolved against its folder).

    The first ``|``-separated field of each line is a path, or an audio ID when it has no
    audio extension (HiFi-GAN's ``LJ001-0001|text``, ``wavs/LJ001-0001|text``): the ID
    names ``ID.wav`` beside the filelist, or ``wavs/ID.wav`` there when only that exists
    (where HiFi-GAN's ``--input_wavs_dir`` points for LJSpeech).

    Raises:
        DataError: the filelist does not exist, cannot be read, or is not UTF-8 text.
    """
    listing = Path(listing)
    if not listing.is_file():
        raise DataError(f"{listing}: filelist not found{_prepare_hint(listing)}")
    try:
        if listing.stat().st_size > MAX_FILELIST_BYTES:
            raise DataError(f"{listing}: too large for a filelist (more than {MAX_FILELIST_BYTES >> 20} MiB)")
        data = listing.read_bytes()
    except OSError as exc:
        raise DataError(f"{listing}: cannot read the filelist ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(f"{listing}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                        "save the filelist as UTF-8") from None
    paths = []
    for line in text.splitlines():
        entry = line.split("|")[0].strip()
        if entry and not entry.startswith("#"):
            p = Path(entry)
            p = p if p.is_absolute() else listing.parent / p
            is_id = p.suffix.lower() not in AUDIO_EXTENSIONS and not p.exists()  # a named folder stays one
            paths.append(_audio_of_id(p, listing.parent) if is_id else p)
    return paths


def _audio_of_id(stem: Path, folder: Path) -> Path:
    """``STEM.wav``, or ``FOLDER/wavs/NAME.wav`` when only that exists (HiFi-GAN's layout)."""
    direct = stem.with_name(stem.name + ".wav")
    in_wavs = folder / "wavs" / direct.name
    if not direct.exists() and stem.parent == folder and in_wavs.exists():
        return in_wavs
    return direct


def check_files(files: Iterable, sample_rate: int, min_samples: int) -> FileCheck:
    """Read every header; a file is bad when unreadable or shorter than ``min_samples``
    at ``sample_rate`` (after resampling)."""
    result = FileCheck()
    for path in files:
        path = Path(path)
        try:
            info = audio_info(path)
            if info.frames <= 0:
                raise AudioError(path, "contains no samples")
            length = int(info.frames * sample_rate // info.samplerate)
            if length < min_samples:
                raise AudioError(path, f"too short: {length} samples at {sample_rate} Hz, "
                                       f"need at least {min_samples}")
        except AudioError as exc:
            result.bad.append((path, exc.problem))
            continue
        result.good.append(path)
        result.lengths.append(length)
    return result


def usable_files(files: Sequence[Path], sample_rate: int, min_samples: int,
                 on_bad_file: str = "stop", log=print) -> FileCheck:
    """:func:`check_files`, then stop (``DataError`` listing the bad files) or skip them."""
    check = check_files(files, sample_rate, min_samples)
    if check.bad:
        if on_bad_file == "stop":
            raise DataError(f"{len(check.bad)} of {len(files)} audio files cannot be used "
                            f"(set data.on_bad_file=skip to train without them):\n{check.report()}")
        log(f"skipping {len(check.bad)} of {len(files)} audio files:\n{check.report()}")
    if not check.good:
        raise DataError("no usable audio files")
    return check


class SegmentDataset(Dataset):
    """Random fixed-length segments of mono audio at one sample rate.

    Each item is one file (an epoch visits every file once, as in HiFi-GAN);
    the segment's start is drawn from torch's global generator, so a restored
    random state gives the same segments.

    Args:
        files: audio files (already checked with :func:`check_files`).
        sample_rate: rate of the returned segments; other rates are resampled.
        segment_length: samples per item; ``None`` returns whole files.
        cache: decode every file once and keep it in memory.
        lengths: lengths at ``sample_rate`` if known (avoids reading headers twice).
        on_bad_file: ``"stop"`` (raise :class:`DataError`) or ``"skip"`` a file that fails
            to decode; a skipped file is logged once per process and its items are drawn
            from the next good file.
        log: where skip notes go.

    Shape:
        Item: ``(segment_length,)`` float32.
    """

    def __init__(self, files: Sequence, sample_rate: int, segment_length: Optional[int] = 8192,
                 cache: bool = False, lengths: Optional[Sequence[int]] = None, progress: bool = False,
                 on_bad_file: str = "stop", log=print):
        self.files = [Path(f) for f in files]
        self.sample_rate = int(sample_rate)
        self.segment_length = segment_length
        self.on_bad_file = on_bad_file
        self.log = log
        self.skipped: Dict[Path, str] = {}
        self.lengths = list(lengths) if lengths is not None else [None] * len(self.files)
        self._cache: Optional[List[np.ndarray]] = None
        if cache:
            items = progress_bar(self.files, desc="decoding audio", unit="file", enabled=progress,
                                 leave=False)
            decoded = [self._guarded(self._load, f) for f in items]
            keep = [i for i, audio in enumerate(decoded) if audio is not None]
            self.files = [self.files[i] for i in keep]
            self.lengths = [self.lengths[i] for i in keep]
            self._cache = [decoded[i] for i in keep]
            if not self.files:
                raise DataError("no usable audio files (all failed to decode)")

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, path: Path) -> np.ndarray:
        return load_audio(path, sample_rate=self.sample_rate, mono=True).samples

    def _read(self, index: int, start: int) -> np.ndarray:
        """Samples ``[start, start + segment_length)`` of file ``index`` (lazy path)."""
        path, n = self.files[index], self.segment_length
        info = audio_info(path)
        if info.samplerate == self.sample_rate:
            return load_audio(path, mono=True, start=start, frames=n).samples
        # read a little more around the segment at the file's rate, then resample and crop
        ratio = info.samplerate / self.sample_rate
        margin = 64
        first = max(0, int(math.floor(start * ratio)) - margin)
        count = int(math.ceil(n * ratio)) + 2 * margin
        chunk = load_audio(path, sample_rate=self.sample_rate, mono=True, start=first,
                           frames=count).samples
        offset = start - int(round(first / ratio))
        return chunk[max(0, offset):max(0, offset) + n]

    def _guarded(self, read, path: Path, *args):
        """``read(path, *args)``, or ``None`` for a file that fails to decode and is skipped."""
        try:
            return read(path, *args)
        except AudioError as exc:
            if self.on_bad_file != "skip":
                raise _bad_file(path, exc.problem) from None
            if path not in self.skipped:
                self.skipped[path] = exc.problem
                self.log(f"skipping {path}: {exc.problem} ({len(self.skipped)} file(s) skipped so far)")
            return None

    def __getitem__(self, index: int) -> torch.Tensor:
        for attempt in range(len(self.files)):  # a skipped file lends its turn to the next one
            i = (index + attempt) % len(self.files)
            if self.files[i] in self.skipped:
                continue
            item = self._guarded(self._item, self.files[i], i)
            if item is not None:
                return item
        raise DataError(f"no usable audio files: all {len(self.files)} failed to decode")

    def _item(self, path: Path, index: int) -> torch.Tensor:
        if self._cache is not None:
            audio = self._cache[index]
            if self.segment_length is None:
                return torch.from_numpy(audio)
            total = audio.shape[0]
        elif self.segment_length is None:
            return torch.from_numpy(self._load(self.files[index]))
        else:
            if self.lengths[index] is None:
                info = audio_info(self.files[index])
                self.lengths[index] = int(info.frames * self.sample_rate // info.samplerate)
            total = self.lengths[index]
        n = self.segment_length
        start = int(torch.randint(0, max(1, total - n + 1), ()).item())
        segment = audio[start:start + n] if self._cache is not None else self._read(index, start)
        if segment.shape[0] < n:  # file shorter than a segment, or rounding at the end
            segment = np.pad(segment, (0, n - segment.shape[0]))
        return torch.from_numpy(np.ascontiguousarray(segment, dtype=np.float32))


def estimated_megabytes(lengths: Sequence[int]) -> float:
    """Memory for the decoded corpus as float32."""
    return 4.0 * float(sum(lengths)) / 2 ** 20
