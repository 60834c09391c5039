"""Measure files: one record per file, folders, parallel jobs, JSON/CSV that keep what finished.

:func:`measure_file` never raises for a bad file: the record's ``error`` says
what is wrong (empty, truncated, not audio, NaN, too short, ...) and
``warnings`` what was done about the rest (channels mixed down, a missing
reference). The tonal analysis streams the file in blocks, so a 1-hour file
needs no more memory than a 1-minute one; reference metrics read at most
``max_reference_s`` seconds of both files.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence


from ..progress import progress_bar
from ..audio.io import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    AudioError,
    audio_info,
    find_audio_files,
    load_audio,
    read_blocks,
    wav_declared_frames,
)
from .plot import plot_tonal
from .record import Measurement, reference_excess
from .reference import OPTIONAL_METRICS, reference_metrics
from .stationary import StationarySpectrum
from .tonal import MIN_DETECT_FRAMES, TonalScore, analyse, detect_lines, score_spectra
from .tones import default_n_fft, resolve_schedule

DEFAULT_HOP = 256
PLOT_FAILED = "plot_failed"  # the warning code of a --plot PNG that could not be written


def empty_record(path) -> dict:
    """A record with every field present (``None`` until measured)."""
    return Measurement(path=str(path)).to_dict()


def _analyse_file(path: Path, info, n_fft: int, hop: int, factors, extra: Optional[StationarySpectrum],
                  rec: Measurement, block_seconds: float, step: Optional[int] = None) -> TonalScore:
    """Stream a file once into the tonal analysis (and ``extra``, for detection / plots); score it."""
    sr = int(info.samplerate)
    read = 0

    def blocks():
        nonlocal read
        # whole frames per block, so that no block is copied to join a frame across blocks
        for block in read_blocks(path, n_fft * max(1, round(block_seconds * sr / n_fft)), info):
            read += block.size
            if extra is not None:
                extra.update(block)
            yield block

    try:
        spectra = analyse(blocks(), sr, n_fft, hop, step=step)
    except ValueError as exc:
        if "too short" in str(exc):
            raise AudioError(path, f"too short: {read} samples ({read / sr:.3f} s) at {sr} Hz, "
                                   f"shorter than one analysis window of {n_fft} samples "
                                   f"({n_fft / sr:.3f} s)") from None
        raise AudioError(path, str(exc)) from None
    finally:
        rec.duration_s = round(read / sr, 4)
    if info.channels > 1:
        rec.warn("note", f"mixed {info.channels} channels down to mono (mean)")
    declared = wav_declared_frames(path, info)
    if declared is not None and declared > read:
        rec.warn("truncated", f"truncated: the header declares {declared} samples, "
                              f"the file holds {read}; measured what is there")
    elif declared is None and info.format in ("WAV", "WAVEX", "FLAC", "AIFF") and read < info.frames:
        rec.warn("truncated", f"truncated: the header declares {info.frames} samples, "
                              f"the file holds {read}; measured what is there")
    return score_spectra(spectra, sr, factors)


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


def resolve_auto_hop(path, n_fft: Optional[int] = None, block_seconds: float = 60.0) -> Optional[int]:
    """``--hop auto``: the blind hop estimate of a file analysed with the default hop (``None``: no comb)."""
    info = audio_info(path)
    rec = Measurement(path=str(path))
    n = n_fft or default_n_fft(info.samplerate, DEFAULT_HOP)
    return _analyse_file(Path(path), info, n, DEFAULT_HOP, (DEFAULT_HOP,), None, rec,
                         block_seconds).estimated_hop


def measure_file(path, factors: Optional[Sequence[int]] = None, hop=None,
                 reference_dir=None, *, reference=None, n_fft: Optional[int] = None,
                 detect: bool = True, max_tones: int = 16, plot_path=None,
                 optional: Sequence[str] = OPTIONAL_METRICS, crepe_model: str = "tiny",
                 block_seconds: float = 60.0, max_reference_s: float = 600.0) -> dict:
    """Measure one file; never raises for bad input (see ``record["error"]``).

    Args:
        path: audio file (any rate libsndfile reads; several channels are mixed to mono).
        factors, hop: the generator's upsampling schedule (default: hop 256);
            ``hop="auto"`` uses the blind estimate (:func:`resolve_auto_hop`).
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
        The record ``audioup measure --json`` writes (:meth:`Measurement.to_dict`).
    """
    rec = Measurement(path=str(path))
    path = Path(path)
    try:
        factors, hop, n_fft = _schedule(path, factors, hop, n_fft, block_seconds, rec)
        info, n_fft = _checked_header(path, hop, n_fft)
        sr = int(info.samplerate)
        rec.sample_rate, rec.channels, rec.factors, rec.hop, rec.n_fft = sr, int(info.channels), list(factors), hop, n_fft
        rec.duration_s = round(info.frames / sr, 4)
        if info.frames == 0:
            raise AudioError(path, "contains no samples")
        extra = None
        if detect or plot_path is not None:
            n_est = max(1, 1 + (info.frames - n_fft) // (n_fft // 2))
            extra = StationarySpectrum(sr, n_fft, persistence=detect,
                                       spectrogram_pool=math.ceil(n_est / 800) if plot_path else 0)
        score = _analyse_file(path, info, n_fft, hop, factors, extra, rec, block_seconds)
        rec.add_score(score, max_tones)
        rec.factors = list(factors)
        detected = _detect(extra, n_fft, rec) if detect else []
        rec.detected = detected
        if reference is None and reference_dir is not None:
            reference = find_reference(path, Path(reference_dir))
        if reference is not None:
            _measure_reference(rec, path, Path(reference), sr, factors, n_fft, optional,
                               crepe_model, block_seconds, max_reference_s)
        if plot_path is not None:
            _plot(path, plot_path, extra, score, detected, rec)
    except AudioError as exc:
        rec.error = str(exc)
    except Exception as exc:  # keep the batch going whatever happens to one file
        rec.error = f"{path}: {type(exc).__name__}: {exc}"
    return rec.to_dict()


def _schedule(path: Path, factors, hop, n_fft: Optional[int], block_seconds: float, rec: Measurement):
    """``(factors, hop, n_fft)`` to measure with; ``hop="auto"`` is estimated from the file
    (an ``n_fft`` that does not fit the estimate is dropped for the default)."""
    if hop == "auto":
        est = resolve_auto_hop(path, n_fft, block_seconds)
        if est is None:
            rec.warn("note", f"--hop auto: no comb stands out; used hop {DEFAULT_HOP}")
        hop = est or DEFAULT_HOP
        if n_fft and n_fft % hop:
            n_fft = None
    factors, hop = resolve_schedule(factors, hop if (hop or factors) else DEFAULT_HOP)
    return factors, hop, n_fft


def _checked_header(path: Path, hop: int, n_fft: Optional[int]):
    """``(info, n_fft)`` of a file the analysis can take; ``AudioError`` for its rate or a length under ``n_fft``."""
    info = audio_info(path)
    sr = int(info.samplerate)
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"unsupported sample rate {sr} Hz (expected {MIN_SAMPLE_RATE}.."
                               f"{MAX_SAMPLE_RATE} Hz)")
    n_fft = n_fft or default_n_fft(sr, hop)
    if n_fft > info.frames:  # checked before anything the size of n_fft is allocated
        raise AudioError(path, f"too short: {info.frames} samples ({info.frames / sr:.3f} s) at "
                               f"{sr} Hz, shorter than one analysis window of {n_fft} samples "
                               f"(hop {hop})")
    return info, n_fft


def _detect(extra: StationarySpectrum, n_fft: int, rec: Measurement) -> list:
    """Blind line detection on the streamed spectrum (a note when the file is too short for it)."""
    res = extra.result()
    detected = detect_lines(res)
    if res.n_frames < MIN_DETECT_FRAMES:
        rec.warn("note", f"too short for blind line detection ({res.n_frames} frames of "
                         f"{n_fft} samples; needs {MIN_DETECT_FRAMES})")
    return detected


def _plot(path: Path, plot_path, extra: Optional[StationarySpectrum], score: TonalScore, detected: list,
          rec: Measurement) -> None:
    """Write the PNG of :func:`plot_tonal`; a failure is a ``plot_failed`` warning (the
    command exits 1 for it), the numbers are kept."""
    try:
        plot_tonal(extra.result() if extra is not None else score.spectrum, score, detected,
                   plot_path, title=path.name)
        rec.plot = str(plot_path)
    except OSError as exc:  # a failed plot must not lose the numbers
        rec.warn(PLOT_FAILED, f"plot failed: {plot_path}: {exc.strerror or exc}")
    except Exception as exc:
        rec.warn(PLOT_FAILED, f"plot failed: {plot_path}: {type(exc).__name__}: {exc}")


def _measure_reference(rec: Measurement, path, ref_path, sr, factors, n_fft, optional, crepe_model,
                       block_seconds, max_reference_s) -> None:
    rec.reference = str(ref_path)
    if not ref_path.is_file():
        problem = ("is a folder, not an audio file" if ref_path.is_dir() else
                   "is not a regular file" if ref_path.exists() else "does not exist")
        rec.warn("note", f"no reference: {ref_path} {problem}; reference metrics skipped")
        return
    try:
        ref_info = audio_info(ref_path)
        # same n_fft as the generated file: same bins between lines, same floor, comparable scores
        ref_score = _analyse_file(ref_path, ref_info, n_fft, rec.hop, factors, None,
                                  Measurement(path=str(ref_path)), block_seconds)
        limit = int(max_reference_s * sr)
        gen = load_audio(path, frames=limit).samples
        ref_file = load_audio(ref_path, sample_rate=sr,
                              frames=int(max_reference_s * ref_info.samplerate) + 1)
        ref = ref_file.samples[:limit]
        for n in ref_file.notes:
            rec.warn("note", f"reference {n}")
        if rec.duration_s > max_reference_s:  # a long pair: the excess of the two whole files
            rec.warn("note", f"reference metrics use the first {max_reference_s:g} s")
            rec.add_reference_score(ref_score)
        else:  # the same content, scored alike (and cut to the matching part of a longer reference)
            ref = reference_excess(rec, gen, ref, sr, ref_score)
        if abs(len(gen) - len(ref)) > max(0.01 * len(ref), sr * 0.05):
            rec.warn("note", f"generated ({len(gen) / sr:.2f} s) and reference "
                             f"({len(ref) / sr:.2f} s) lengths differ; compared the "
                             f"first {min(len(gen), len(ref)) / sr:.2f} s")
        m = reference_metrics(gen, ref, sr, optional=optional, crepe_model=crepe_model)
    except AudioError as exc:
        rec.warn("note", f"reference unusable: {exc}; reference metrics skipped")
        return
    rec.unavailable = m.pop("unavailable")
    for k, v in m.items():
        setattr(rec, k, None if v is None else round(float(v), 5))


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # torch, if a reference metric loads it, reads this


def _measure_job(job):
    path, kwargs, skipped = job
    if skipped is not None:  # a folder entry that is no audio file: its record says why
        rec = empty_record(path)
        rec["error"] = skipped
        return rec
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
    items = []  # (file, root folder or None, why a folder entry was passed over or None)
    for p in paths:
        p = Path(p)
        if p.is_dir():
            skipped: List[AudioError] = []
            found = [(f, p, None) for f in find_audio_files([p], skipped=skipped)]
            found += [(Path(e.path), p, str(e)) for e in skipped]  # a record each, in path order
            items.extend(sorted(found, key=lambda item: item[0]))
        else:
            items.append((p, None, None))
    measured = [(f, root) for f, root, skip in items if skip is None]
    pngs = iter(plot_names(measured) if plot_dir is not None else [])  # no resolve() without --plot
    jobs_list = []
    for f, root, skip in items:
        kw = dict(kwargs, factors=factors, hop=hop)
        if reference_dir is not None:
            kw["reference"] = find_reference(f, Path(reference_dir), root)
        if plot_dir is not None and skip is None:
            kw["plot_path"] = Path(plot_dir) / next(pngs)
        jobs_list.append((str(f), kw, skip))
    records: List[Optional[dict]] = [None] * len(jobs_list)
    bar = _progress(len(jobs_list), progress)
    try:
        if jobs <= 1 or len(jobs_list) <= 1:
            for i, job in enumerate(jobs_list):
                records[i] = _measure_job(job)
                _done(records[i], on_record, bar)
        else:
            import multiprocessing as mp  # process pools only for --jobs > 1 (~40 ms of imports)
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
    """PNG name for a measured file: its path under ``root`` (or the working folder) with ``/`` -> ``__``.

    A file outside both is named by its name alone (:func:`plot_names` makes names unique).
    """
    path = Path(path)
    for base in ([root] if root is not None else []) + [Path.cwd()]:
        try:  # os.path.realpath: a link loop raises nothing (Path.resolve raises RuntimeError)
            return "__".join(Path(os.path.realpath(path)).relative_to(os.path.realpath(base)).parts) + ".png"
        except ValueError:
            continue
    return path.name + ".png"


def plot_names(items) -> List[str]:
    """:func:`plot_name` of ``[(file, root)]``, made unique (``name~2.png``, ...) in order."""
    seen, out = {}, []
    for f, root in items:
        name = plot_name(f, root)
        n = seen.get(name, 0) + 1
        seen[name] = n
        out.append(name if n == 1 else f"{name[:-4]}~{n}.png")
    return out


def _progress(total, enabled):
    if not enabled or total == 0:
        return None
    return progress_bar(total=total, unit="file", desc="measure", dynamic_ncols=True)


def _done(rec, on_record, bar) -> None:
    if on_record is not None:
        on_record(rec)
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(Path(rec["path"]).name[-30:], refresh=False)
