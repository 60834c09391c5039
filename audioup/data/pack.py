"""Pack a train / val / test subset of a prepared corpus under a size limit (FLAC or OGG).

The offline GPU machines receive at most 64 MiB of files. :func:`pack_subset`
copies the whole held-out sets up to ``eval_minutes`` each (in a fixed,
hash-chosen order, so every speaker stays out of training), then training files
until ``max_minutes`` of audio or ``max_mib`` on disk is reached, whichever
comes first. The size is measured on the files written, not estimated.
A finished file is reused when the command runs again, and audio a previous,
larger pack left in the folder is removed, so the folder holds what its lists name.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

from ..audio.io import AudioError, audio_info, load_audio
from ..audio.write import save_audio
from .dataset import DataError, read_filelist
from .prepare import write_filelist

MIB = 1 << 20
FORMATS = {"flac": "PCM_16", "ogg": "VORBIS"}
SPLITS = ("test", "val", "train")
# what a packed folder holds: anything else means it is not one, and nothing in it is removed
_PACKED_ENTRIES = set(SPLITS) | {f"{s}.txt" for s in SPLITS}


@dataclass
class PackedSubset:
    """What :func:`pack_subset` wrote."""

    root: Path
    counts: Dict[str, int]
    minutes: Dict[str, float]
    mib: float

    def summary(self) -> str:
        parts = ", ".join(f"{s} {self.counts[s]} files / {self.minutes[s]:.1f} min" for s in SPLITS)
        return f"packed subset in {self.root}: {parts}; {self.mib:.1f} MiB in all"


def _order(paths: List[Path]) -> List[Path]:
    return sorted(paths, key=lambda p: hashlib.sha256(f"audioup-pack:{p.as_posix()}".encode()).hexdigest())


def pack_subset(corpus_dir, out_dir, max_minutes: float = 30.0, fmt: str = "flac", max_mib: float = 60.0,
                eval_minutes: float = 4.0, log: Callable[[str], object] = print) -> PackedSubset:
    """Copy a subset of ``corpus_dir``'s ``{train,val,test}.txt`` into ``out_dir`` as ``fmt``.

    Args:
        corpus_dir: a folder with ``train.txt``, ``val.txt`` and ``test.txt`` (paths relative to it).
        out_dir: new folder (must not be ``corpus_dir``): audio under ``SPLIT/``, filelists beside.
        max_minutes: training audio to pack at most.
        fmt: ``"flac"`` (lossless, about 1.5 MiB per minute at 22.05 kHz) or ``"ogg"``
            (Vorbis, about 0.4 MiB per minute).
        max_mib: the whole folder stays under this size.
        eval_minutes: at most this much audio for val and for test each.

    Raises:
        DataError: unknown format, a size that is not a positive number, missing filelist,
            out_dir equal to the corpus or holding anything but a packed subset, or the
            held-out sets alone exceed ``max_mib``.
    """
    if fmt not in FORMATS:
        raise DataError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    for option, value in (("--max-minutes", max_minutes), ("--eval-minutes", eval_minutes),
                          ("--max-mib", max_mib)):
        check_positive(option, value)
    corpus_dir, out_dir = Path(corpus_dir).resolve(), Path(out_dir).resolve()
    if out_dir == corpus_dir:
        raise DataError(f"{out_dir}: the packed subset needs its own folder (it would mix with the corpus)")
    _check_packed_folder(out_dir)
    counts, minutes, written = {}, {}, 0
    for split in SPLITS:
        files, seconds = [], 0.0
        limit = (max_minutes if split == "train" else eval_minutes) * 60
        for src in _order(read_filelist(corpus_dir / f"{split}.txt")):
            try:
                info = audio_info(src)
            except AudioError as exc:
                log(f"skipping {exc}")
                continue
            length = info.frames / info.samplerate
            if seconds + length > limit:
                continue
            dest = (out_dir / split / src.relative_to(corpus_dir)).with_suffix(f".{fmt}")
            if not dest.is_file():
                save_audio(dest, load_audio(src).samples, info.samplerate, subtype=FORMATS[fmt])
            size = dest.stat().st_size
            if (written + size) / MIB > max_mib:
                if split != "train":
                    raise DataError(f"the held-out {split} set alone exceeds {max_mib} MiB; "
                                    "lower --eval-minutes or use --format ogg")
                dest.unlink()
                break
            written += size
            seconds += length
            files.append(dest)
        counts[split] = write_filelist(out_dir / f"{split}.txt", files, out_dir)
        minutes[split] = seconds / 60
        removed = _remove_unlisted(out_dir / split, files)
        note = f" ({removed} file(s) of an earlier pack removed)" if removed else ""
        log(f"{split}: {counts[split]} files, {minutes[split]:.1f} min, {written / MIB:.1f} MiB so far{note}")
    return PackedSubset(out_dir, counts, minutes, written / MIB)


def check_positive(option: str, value: float) -> float:
    """``value`` when it is a finite number above 0; else DataError naming ``option``."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise DataError(f"{option} {value}: expected a positive number")
    return value


def _check_packed_folder(out_dir: Path) -> None:
    """Refuse an ``out_dir`` that holds anything but a packed subset (its files would be removed)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder")
    other = sorted(e.name for e in out_dir.iterdir() if e.name not in _PACKED_ENTRIES)
    links = [s for s in SPLITS if (out_dir / s).is_symlink() or (out_dir / s).is_file()]
    if other or links:
        raise DataError(f"{out_dir}: holds {', '.join((other + links)[:5])}, so it is not a packed subset; "
                        "audio of an earlier pack is removed from the folder, so give a new or empty folder "
                        "with --packed-out")


def _remove_unlisted(folder: Path, keep: List[Path]) -> int:
    """Delete the files under ``folder`` that ``keep`` does not name (an earlier, larger pack's)."""
    if not folder.is_dir():
        return 0
    keep_set = {os.path.normpath(p) for p in keep}
    removed = 0
    for here, dirs, names in os.walk(folder, topdown=False):  # links to folders are not followed
        for name in names:
            path = os.path.join(here, name)
            if os.path.normpath(path) not in keep_set:
                os.unlink(path)
                removed += 1
        for name in dirs:
            sub = os.path.join(here, name)
            if not os.path.islink(sub) and not os.listdir(sub):
                os.rmdir(sub)
    return removed
