"""The embedded corpus: a small offline training set made from the bundled speech.

The repository ships two CMU ARCTIC utterances (``data/cmu_arctic``, 16 kHz,
7 s in all). :func:`build_corpus` turns them into a few dozen clips at the
training rate (22.05 kHz by default) by pitch shifting, time stretching and
changing the level, and writes ``wavs/*.wav`` plus ``train.txt``, ``val.txt``
and ``test.txt`` (paths relative to the corpus folder) and ``corpus.json``
(every clip's parameters). Same arguments and seed -> the same bytes.

What it is and is not: enough varied speech for a vocoder to start learning
and for tonal artifacts to show, on CPU, with no download. It is one speaker
and two sentences: ``test.txt`` holds the two unaugmented originals, which are
the same sentences the training clips are made from, so test numbers measure
fit, not generalisation. The source is 16 kHz, so the clips hold no energy
above 8 kHz (the Nyquist frequency of the source) -- anything a vocoder puts
there, tonal lines included, stands out clearly.

Cost: 22-49 s for the default 26 clips on a shared 2-core CPU at load average 5-9
(issue 23), mostly librosa's pitch shift and time stretch; ``audioup demo`` prints
the time it took.
"""
from __future__ import annotations

import json
from importlib import resources
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import librosa
import numpy as np
import torch

from ..audio.fs import atomic_write
from ..audio.io import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, audio_info, find_audio_files, load_audio
from ..audio.write import save_audio
from ..progress import progress_bar
from .prepare import write_filelist

CORPUS_VERSION = 1
MANIFEST = "corpus.json"
# package data (pyproject.toml): in a clone, links to data/cmu_arctic/; installed, copies of the clips
DEFAULT_SOURCES = Path(str(resources.files("audioup") / "assets" / "data" / "cmu_arctic")).resolve()
SEMITONE_RANGE = (-4.0, 4.0)
RATE_RANGE = (0.85, 1.15)
PEAK_DB_RANGE = (-12.0, -1.0)


def augment(samples: np.ndarray, sample_rate: int, semitones: float = 0.0, rate: float = 1.0,
            gain_db: float = 0.0) -> np.ndarray:
    """Pitch shift, then time stretch, then gain.

    Args:
        samples: mono float audio, shape ``(T,)``.
        sample_rate: its rate in Hz.
        semitones: pitch shift (``librosa.effects.pitch_shift``); +12 doubles every frequency.
        rate: speed factor (``librosa.effects.time_stretch``); 1.25 makes it 1.25x shorter,
            pitch unchanged.
        gain_db: level change in dB applied last.

    Shape:
        Input: ``(T,)``. Output: ``(round(T / rate),)`` approximately.
    """
    y = np.asarray(samples, dtype=np.float32)
    if semitones:
        y = librosa.effects.pitch_shift(y, sr=sample_rate, n_steps=float(semitones))
    if rate != 1.0:
        if rate <= 0:
            raise ValueError(f"time-stretch rate must be positive, got {rate}")
        y = librosa.effects.time_stretch(y, rate=float(rate))
    return (y * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)


@dataclass(frozen=True)
class Clip:
    """One corpus clip: its file (relative to the corpus), source, parameters and split."""

    file: str
    source: str
    semitones: float
    rate: float
    peak_db: float
    split: str


@dataclass
class Corpus:
    """A built corpus: folder, sample rate, filelists and clips."""

    root: Path
    sample_rate: int
    filelists: Dict[str, Path]
    clips: List[Clip]

    @property
    def counts(self) -> Dict[str, int]:
        return {s: sum(c.split == s for c in self.clips) for s in self.filelists}

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return (f"corpus at {self.sample_rate} Hz in {self.root}: {counts} clips, "
                f"{self.seconds('train'):.1f} s of training audio; filelists {', '.join(self.filelists)}.txt")

    def seconds(self, split: str = "train") -> float:
        return sum(audio_info(self.root / c.file).duration for c in self.clips if c.split == split)


MAX_VARIANTS = 1000   # augmented clips per source
MAX_CLIPS = 20000     # clips in all (about 2-3 GB of 22.05 kHz WAV at the bundled clips' length)


def plan_clips(sources: Sequence[Path], variants: int, n_val: int, seed: int) -> List[Clip]:
    """Draw the parameters of every clip (numpy's PCG64 generator: stable across versions).

    Per source: the original (test split), then ``variants`` augmented clips
    of which the last ``n_val`` are validation and the rest training.
    Parameters are drawn uniformly from :data:`SEMITONE_RANGE`,
    :data:`RATE_RANGE` and :data:`PEAK_DB_RANGE` and rounded (0.1 semitone,
    0.01 rate, 0.1 dB) so that they read well in file names.
    """
    if variants < 1 or not 0 <= n_val < variants:
        raise ValueError(f"need variants >= 1 and 0 <= n_val < variants (got {variants}, {n_val})")
    rng = np.random.default_rng(seed)
    clips = []
    for src in sources:
        stem = Path(src).stem
        clips.append(Clip(f"wavs/{stem}.wav", Path(src).name, 0.0, 1.0, -1.0, "test"))
        for k in range(variants):
            st = round(float(rng.uniform(*SEMITONE_RANGE)), 1)
            rate = round(float(rng.uniform(*RATE_RANGE)), 2)
            peak = round(float(rng.uniform(*PEAK_DB_RANGE)), 1)
            split = "val" if k >= variants - n_val else "train"
            clips.append(Clip(f"wavs/{stem}_{k:02d}_p{st:+.1f}_r{rate:.2f}_g{peak:+.1f}.wav",
                              Path(src).name, st, rate, peak, split))
    return clips


def _settings(sources, sample_rate, variants, n_val, seed) -> dict:
    return {"version": CORPUS_VERSION, "sources": [Path(s).name for s in sources],
            "sample_rate": sample_rate, "variants": variants, "n_val": n_val, "seed": seed}


def build_corpus(out_dir, sources: Optional[Sequence] = None, sample_rate: int = 22050,
                 variants: int = 12, n_val: int = 1, seed: int = 0, force: bool = False,
                 progress: bool = True) -> Corpus:
    """Build (or reuse) the embedded corpus in ``out_dir``.

    Args:
        out_dir: corpus folder; created.
        sources: audio files or folders (default: the bundled ``data/cmu_arctic``).
        sample_rate: rate of the written clips.
        variants: augmented clips per source.
        n_val: of those, how many per source go to validation.
        seed: parameter draw; same seed and arguments -> identical files.
        force: rebuild even if ``out_dir`` holds a different corpus or other files.

    Returns:
        The :class:`Corpus`. When ``out_dir/corpus.json`` already describes the
        same settings and every clip exists, nothing is recomputed.

    Raises:
        FileExistsError: ``out_dir`` holds something else and ``force`` is off.
        audioup.audio.io.AudioError: a source file cannot be read.
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample rate {sample_rate} Hz: expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    if variants < 1 or not 0 <= n_val < variants:
        raise ValueError(f"need variants >= 1 and 0 <= n_val < variants (got {variants}, {n_val})")
    if variants > MAX_VARIANTS:
        raise ValueError(f"--variants {variants}: at most {MAX_VARIANTS} augmented clips per source "
                         f"(each is a few seconds of WAV; {variants} would take hours and gigabytes)")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: exists and is not a folder")
    files = _source_files(sources)
    if len(files) * (variants + 1) > MAX_CLIPS:
        raise ValueError(f"{len(files)} sources x ({variants} variants + 1 original) = "
                         f"{len(files) * (variants + 1)} clips: at most {MAX_CLIPS}; lower --variants")
    settings = _settings(files, sample_rate, variants, n_val, seed)
    finished = _reuse_or_clear(out_dir, settings, force)
    if finished is not None:
        return finished
    clips = plan_clips(files, variants, n_val, seed)
    _write_clips(out_dir, clips, {f.name: f for f in files}, sample_rate, progress)
    filelists = {}
    for split in ("train", "val", "test"):
        filelists[split] = out_dir / f"{split}.txt"
        write_filelist(filelists[split], [out_dir / c.file for c in clips if c.split == split], out_dir)
    atomic_write(out_dir / MANIFEST, json.dumps({"settings": settings, "clips": [asdict(c) for c in clips]}, indent=1))
    return Corpus(out_dir, sample_rate, filelists, clips)


def _source_files(sources: Optional[Sequence]) -> List[Path]:
    """The audio files of ``sources`` (default: the bundled speech)."""
    if sources is None:
        if not DEFAULT_SOURCES.is_dir():
            raise FileNotFoundError(f"{DEFAULT_SOURCES}: bundled speech not found (the package data "
                                    f"is missing: reinstall audioup); pass sources=")
        sources = [DEFAULT_SOURCES]
    files = find_audio_files(sources)
    if not files:
        raise FileNotFoundError(f"no audio files in {', '.join(map(str, sources))}")
    return files


def _reuse_or_clear(out_dir: Path, settings: dict, force: bool) -> Optional[Corpus]:
    """The finished corpus in ``out_dir`` if it has these settings; else make room for a new one.

    Only the clips of a previous build are removed; a folder that holds anything
    else raises ``FileExistsError`` unless ``force``.
    """
    manifest = out_dir / MANIFEST
    old = json.loads(manifest.read_text()) if manifest.is_file() else None
    if old is not None and old.get("settings") == settings and not force:
        corpus = _from_manifest(out_dir, old)
        if all((out_dir / c.file).is_file() for c in corpus.clips):
            return corpus
    elif out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        what = "a corpus built with other settings" if old else "files that are not an audioup corpus"
        raise FileExistsError(f"{out_dir}: holds {what}; choose another folder or pass force=True (--force)")
    if old is not None:  # remove the previous build's clips, nothing else
        for clip in old.get("clips", []):
            (out_dir / clip["file"]).unlink(missing_ok=True)
    return None


def _write_clips(out_dir: Path, clips: Sequence[Clip], sources: Dict[str, Path], sample_rate: int,
                 progress: bool) -> None:
    """Render every clip (augment, set its peak, resample) into ``out_dir``; ``sources`` by file name."""
    import torchaudio  # only building needs it (reading a built corpus does not)

    cache: Dict[str, tuple] = {}
    resamplers: Dict[tuple, torch.nn.Module] = {}
    for clip in progress_bar(clips, desc="building corpus", unit="clip", enabled=progress, leave=False):
        if clip.source not in cache:
            audio = load_audio(sources[clip.source], min_samples=1024)
            peak = max(float(np.abs(audio.samples).max()), 1e-6)
            cache[clip.source] = (audio.samples / peak, audio.sample_rate)
        x, src_rate = cache[clip.source]
        y = augment(x, src_rate, clip.semitones, clip.rate)
        y = y * np.float32(10.0 ** (clip.peak_db / 20.0) / max(float(np.abs(y).max()), 1e-6))
        if (src_rate, sample_rate) not in resamplers:  # build the sinc kernel once per rate pair
            resamplers[src_rate, sample_rate] = torchaudio.transforms.Resample(src_rate, sample_rate)
        with torch.no_grad():
            y = resamplers[src_rate, sample_rate](torch.from_numpy(np.ascontiguousarray(y))).numpy()
        save_audio(out_dir / clip.file, y, sample_rate)


def _from_manifest(out_dir: Path, data: dict) -> Corpus:
    clips = [Clip(**c) for c in data["clips"]]
    lists = {s: out_dir / f"{s}.txt" for s in ("train", "val", "test")}
    return Corpus(out_dir, int(data["settings"]["sample_rate"]), lists, clips)
