"""Measure files: one record per file, folders, parallel jobs, JSON/CSV that keep what finished.

:func:`measure_file` never raises for a bad file: the record's ``error`` says
what is wrong (empty, truncated, not audio, NaN, too short, ...) and
``warnings`` what was done about the rest (channels mixed down, a missing
reference). The tonal analysis streams the file in blocks, so a 1-hour file
needs no more memory than a 1-minute one; reference metrics read at most
``max_reference_s`` seconds of both files.
"""
from __future__ import annotations

import csv
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np

from ..audio.io import AudioError, audio_info, find_audio_files, load_audio
from .reference import OPTIONAL_METRICS, reference_metrics
from .stationary import StationarySpectrum
from .tonal import MIN_DETECT_FRAMES, detect_lines, score_spectrum
from .tones import default_n_fft, resolve_schedule

DEFAULT_HOP = 256
REFERENCE_KEYS = ("mrstft", "mel_l1", "lsd_db", "pesq_wb", "stoi", "periodicity_rmse", "vuv_f1")


def empty_record(path) -> dict:
    """A record with every field present (``None`` until measured)."""
    rec = {"path": str(path), "error": None, "warnings": [], "sample_rate": None,
           "duration_s": None, "channels": None, "factors": None, "hop": None, "n_fft": None,
           "tonal_score_db": None, "tonal_max_db": None, "per_layer": None, "tones": [],
           "detected": [], "reference": None, "reference_tonal_score_db": None,
           "excess_tonal_db": None, "unavailable": {}, "plot": None}
    rec.update({k: None for k in REFERENCE_KEYS})
    return rec


def _stream(path: Path, sample_rate: int, n_fft: int, detect: bool, plot: bool,
            block_seconds: float, notes: List[str], bins=None):
    """Feed a file block by block into a :class:`StationarySpectrum`; returns (result, frames read)."""
    import soundfile as sf

    info = audio_info(path)
    n_frames_est = max(1, 1 + (info.frames - n_fft) // (n_fft // 2))
    acc = StationarySpectrum(sample_rate, n_fft, persistence=detect, bins=bins,
                             spectrogram_pool=math.ceil(n_frames_est / 800) if plot else 0)
    read = 0
    block = max(n_fft, int(block_seconds * sample_rate))
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                if not np.isfinite(data).all():
                    bad = int((~np.isfinite(data)).sum())
                    raise AudioError(path, f"contains NaN or Inf samples ({bad} in the block "
                                           f"starting at {read / sample_rate:.2f} s)")
                acc.update(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0])
                read += data.shape[0]
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(path, f"could not decode samples after {read / sample_rate:.2f} s "
                               f"({type(exc).__name__}: {exc}); the file may be truncated") from None
    if info.channels > 1 and f"mixed {info.channels} channels down to mono (mean)" not in notes:
        notes.append(f"mixed {info.channels} channels down to mono (mean)")
    declared = wav_declared_frames(path, info)
    if read < info.frames or (declared is not None and declared > read):
        notes.append(f"truncated: the header declares {max(info.frames, declared or 0)} samples, "
                     f"the file holds {read}; measured what is there")
    if read < n_fft:
        raise AudioError(path, f"too short: {read} samples ({read / sample_rate:.3f} s) at "
                               f"{sample_rate} Hz, shorter than one analysis window of {n_fft} "
                               f"samples ({n_fft / sample_rate:.3f} s)")
    return acc.result(), read


_SAMPLE_BYTES = {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def wav_declared_frames(path: Path, info) -> Optional[int]:
    """Frames a RIFF/WAVE header's ``data`` chunk declares (``None`` if not a plain WAV).

    libsndfile quietly reads a truncated WAV as a shorter one; comparing the
    declared size with what was read tells the user their file was cut.
    """
    width = _SAMPLE_BYTES.get(getattr(info, "subtype", ""))
    if width is None:
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


def find_reference(path: Path, reference_dir: Path, root: Optional[Path] = None) -> Path:
    """``reference_dir / (path relative to root)`` if it exists, else ``reference_dir / path.name``."""
    if root is not None:
        try:
            cand = reference_dir / Path(path).resolve().relative_to(Path(root).resolve())
            if cand.is_file():
                return cand
        except ValueError:
            pass
    return reference_dir / Path(path).name


def measure_file(path, factors: Optional[Sequence[int]] = None, hop: Optional[int] = None,
                 reference_dir=None, *, reference=None, n_fft: Optional[int] = None,
                 detect: bool = True, max_tones: int = 16, plot_path=None,
                 optional: Sequence[str] = OPTIONAL_METRICS, crepe_model: str = "tiny",
                 block_seconds: float = 60.0, max_reference_s: float = 600.0) -> dict:
    """Measure one file; never raises for bad input (see ``record["error"]``).

    Args:
        path: audio file (any rate libsndfile reads; several channels are mixed to mono).
        factors, hop: the generator's upsampling schedule (default: hop 256).
        reference_dir: folder holding the ground truth under the same name.
        reference: the ground-truth file itself (overrides ``reference_dir``).
        n_fft: analysis size (default :func:`default_n_fft` for the hop).
        detect: also run blind line detection (``detected``).
        max_tones: the strongest predicted lines kept in ``tones``.
        plot_path: write the PNG of :func:`plot_tonal` here.
        optional: optional reference metrics to try (``pesq_wb``, ``stoi``, ``periodicity``).
        crepe_model: torchcrepe model for periodicity (``tiny`` or ``full``).
        block_seconds: read size of the streaming analysis.
        max_reference_s: reference metrics use at most this much of both files.

    Returns:
        The record ``audioup measure --json`` writes (see :func:`empty_record`).
    """
    rec = empty_record(path)
    path = Path(path)
    try:
        factors, hop = resolve_schedule(factors, hop if (hop or factors) else DEFAULT_HOP)
        info = audio_info(path)
        sr = int(info.samplerate)
        n_fft = n_fft or default_n_fft(sr, hop)
        rec.update(sample_rate=sr, channels=int(info.channels), factors=list(factors), hop=hop,
                   n_fft=n_fft, duration_s=round(info.frames / sr, 4))
        if info.frames == 0:
            raise AudioError(path, "contains no samples")
        notes: List[str] = []
        res, read = _stream(path, sr, n_fft, detect, plot_path is not None, block_seconds, notes)
        rec["duration_s"] = round(read / sr, 4)
        rec["warnings"].extend(notes)
        score = score_spectrum(res, sr, factors)
        rec.update(tonal_score_db=round(score.tonal_score_db, 3), tonal_max_db=round(score.max_db, 3),
                   per_layer=score.per_layer, tones=score.strongest(max_tones))
        detected = detect_lines(res) if detect else []
        if detect and res.n_frames < MIN_DETECT_FRAMES:
            rec["warnings"].append(f"too short for blind line detection ({res.n_frames} frames of "
                                   f"{n_fft} samples; needs {MIN_DETECT_FRAMES})")
        rec["detected"] = detected
        if reference is None and reference_dir is not None:
            reference = find_reference(path, Path(reference_dir))
        if reference is not None:
            _measure_reference(rec, path, Path(reference), sr, factors, n_fft, optional,
                               crepe_model, block_seconds, max_reference_s)
        if plot_path is not None:
            try:
                from .plot import plot_tonal

                plot_tonal(res, score, detected, plot_path, title=path.name)
                rec["plot"] = str(plot_path)
            except Exception as exc:  # a failed plot must not lose the numbers
                rec["warnings"].append(f"plot failed: {type(exc).__name__}: {exc}")
    except AudioError as exc:
        rec["error"] = str(exc)
    except Exception as exc:  # keep the batch going whatever happens to one file
        rec["error"] = f"{path}: {type(exc).__name__}: {exc}"
    return rec


def _measure_reference(rec, path, ref_path, sr, factors, n_fft, optional, crepe_model,
                       block_seconds, max_reference_s) -> None:
    rec["reference"] = str(ref_path)
    if not ref_path.is_file():
        rec["warnings"].append(f"no reference: {ref_path} does not exist; reference metrics skipped")
        return
    try:
        ref_info = audio_info(ref_path)
        limit = int(max_reference_s * sr)
        gen = load_audio(path, frames=limit).samples
        ref_file = load_audio(ref_path, sample_rate=sr,
                              frames=int(max_reference_s * ref_info.samplerate) + 1)
        ref = ref_file.samples[:limit]
        rec["warnings"].extend(f"reference {n}" for n in ref_file.notes)
        if rec["duration_s"] > max_reference_s:
            rec["warnings"].append(f"reference metrics use the first {max_reference_s:g} s")
        if abs(len(gen) - len(ref)) > max(0.01 * len(ref), sr * 0.05):
            rec["warnings"].append(f"generated ({len(gen) / sr:.2f} s) and reference "
                                   f"({len(ref) / sr:.2f} s) lengths differ; compared the "
                                   f"first {min(len(gen), len(ref)) / sr:.2f} s")
        # same n_fft as the generated file: same bins between lines, same floor, comparable scores
        ref_res, _ = _stream(ref_path, int(ref_info.samplerate), n_fft, False, False, block_seconds, [])
        ref_score = score_spectrum(ref_res, ref_info.samplerate, factors)
        rec["reference_tonal_score_db"] = round(ref_score.tonal_score_db, 3)
        rec["excess_tonal_db"] = round(rec["tonal_score_db"] - ref_score.tonal_score_db, 3)
        m = reference_metrics(gen, ref, sr, optional=optional, crepe_model=crepe_model)
    except AudioError as exc:
        rec["warnings"].append(f"reference unusable: {exc}; reference metrics skipped")
        return
    rec["unavailable"] = m.pop("unavailable")
    rec.update({k: (None if v is None else round(float(v), 5)) for k, v in m.items()})


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _measure_job(job):
    path, kwargs = job
    return measure_file(path, **kwargs)


def measure_files(paths: Iterable, factors=None, hop=None, reference_dir=None, jobs: int = 1,
                  plot_dir=None, progress: bool = True,
                  on_record: Optional[Callable[[dict], None]] = None, **kwargs) -> List[dict]:
    """Measure files and folders (searched recursively); records in input order.

    Args:
        paths: files and/or folders. A path that does not exist becomes an error record.
        jobs: worker processes (``1``: in this process).
        plot_dir: write one PNG per file here (name from the path relative to its folder).
        on_record: called with each record as soon as it is finished (in finishing order).
        **kwargs: passed to :func:`measure_file`.
    """
    items = []  # (file, root folder or None)
    for p in paths:
        p = Path(p)
        if p.is_dir():
            items.extend((f, p) for f in find_audio_files([p]))
        else:
            items.append((p, None))
    jobs_list = []
    for f, root in items:
        kw = dict(kwargs, factors=factors, hop=hop)
        if reference_dir is not None:
            kw["reference"] = find_reference(f, Path(reference_dir), root)
        if plot_dir is not None:
            kw["plot_path"] = Path(plot_dir) / plot_name(f, root)
        jobs_list.append((str(f), kw))
    records: List[Optional[dict]] = [None] * len(jobs_list)
    bar = _progress(len(jobs_list), progress)
    try:
        if jobs <= 1 or len(jobs_list) <= 1:
            for i, job in enumerate(jobs_list):
                records[i] = _measure_job(job)
                _done(records[i], on_record, bar)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init) as pool:
                futures = {pool.submit(_measure_job, job): i for i, job in enumerate(jobs_list)}
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        records[i] = fut.result()
                    except Exception as exc:  # a worker died (out of memory, killed)
                        records[i] = empty_record(jobs_list[i][0])
                        records[i]["error"] = f"{jobs_list[i][0]}: worker failed: {type(exc).__name__}: {exc}"
                    _done(records[i], on_record, bar)
    finally:
        if bar is not None:
            bar.close()
    return records


def plot_name(path, root=None) -> str:
    """PNG name for a measured file: its path under ``root`` with ``/`` -> ``__``."""
    path = Path(path)
    rel = path.name
    if root is not None:
        try:
            rel = str(path.resolve().relative_to(Path(root).resolve()))
        except ValueError:
            pass
    return rel.replace(os.sep, "__") + ".png"


def _progress(total, enabled):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="measure", dynamic_ncols=True)


def _done(rec, on_record, bar) -> None:
    if on_record is not None:
        on_record(rec)
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(Path(rec["path"]).name[-30:], refresh=False)


class RecordWriter:
    """Writes records as they finish, so an interrupted run keeps what was measured.

    CSV rows are appended and flushed one by one. The JSON file (a list of
    records) is rewritten atomically (temporary file + rename) at most every
    ``json_interval`` seconds and on :meth:`close`; a crash loses at most that
    interval's JSON records, never the CSV rows, and never leaves a broken JSON file.
    """

    CSV_COLUMNS = ["path", "error", "warnings", "sample_rate", "duration_s", "hop",
                   "tonal_score_db", "tonal_max_db", "strongest_hz", "strongest_db",
                   "n_detected", "detected", "excess_tonal_db", *REFERENCE_KEYS]

    def __init__(self, json_path=None, csv_path=None, json_interval: float = 1.0):
        self.json_path = Path(json_path) if json_path else None
        self.csv_path = Path(csv_path) if csv_path else None
        self.json_interval = json_interval
        self.records: List[dict] = []
        self._last_json = 0.0
        self._csv = None
        if self.csv_path is not None:
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            self._csv = open(self.csv_path, "w", newline="")
            self._writer = csv.DictWriter(self._csv, fieldnames=self.CSV_COLUMNS)
            self._writer.writeheader()
            self._csv.flush()

    def add(self, rec: dict) -> None:
        self.records.append(rec)
        if self._csv is not None:
            self._writer.writerow(csv_row(rec))
            self._csv.flush()
        if self.json_path is not None and time.monotonic() - self._last_json >= self.json_interval:
            self._write_json()

    def _write_json(self) -> None:
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.json_path.name}.", dir=self.json_path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.records, f, indent=1)
            os.replace(tmp, self.json_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self._last_json = time.monotonic()

    def close(self) -> None:
        if self.json_path is not None:
            self._write_json()
        if self._csv is not None:
            self._csv.close()
            self._csv = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def csv_row(rec: dict) -> dict:
    """Flat CSV row of a record."""
    row = {k: rec.get(k) for k in RecordWriter.CSV_COLUMNS if k in rec}
    row["warnings"] = "; ".join(rec.get("warnings") or [])
    top = rec["tones"][0] if rec.get("tones") else None
    row["strongest_hz"] = None if top is None else round(top["freq_hz"], 3)
    row["strongest_db"] = None if top is None else top["prominence_db"]
    det = rec.get("detected") or []
    row["n_detected"] = len(det) if rec.get("error") is None else None
    row["detected"] = "; ".join(f"{d['freq_hz']:.1f} Hz {d['prominence_db']:.1f} dB" for d in det)
    return row
