"""Vocode real recordings and measure the result: the one "vocode, then measure" of audioup.

A vocoder resynthesises each test clip through its own mel front end (:func:`vocode`,
:meth:`audioup.inference.Vocoder.wav_to_wav`); the output is measured against the clip
itself by :func:`audioup.metrics.measure_signal`, the one measurement of a signal and its
reference (the same as ``audioup measure --reference`` and training validation):

- quality: mel L1, multi-resolution STFT distance and, when asked for and installed,
  PESQ-WB, STOI, periodicity and V/UV F1; DistillMOS's no-reference estimate of the output
  (``mos``) and of the recording (``real_mos``) (:mod:`audioup.metrics.mos`);
- lines: the tonal score of the output and of the real clip on the vocoder's predicted
  grid (multiples of each layer's input rate), and ``line_over_real_db``: the output's
  strongest predicted line minus the real recording's strongest one. A vocoder that adds
  no line reads about 0 or below; HiFi-GAN V1 Universal's 11025 Hz line reads +20..+30 dB.

:func:`evaluate_vocoder` returns one :class:`ClipResult` per clip (holding its whole
:class:`~audioup.metrics.Measurement`) and :func:`summarize` their means; ``audioup
convert``'s report, ``audioup compare`` (both kinds) and the GPU recipes use them.

    >>> summarize([])["clips"]
    0
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from .audio.io import AudioError, find_audio_files
from .audio.write import save_audio
from .inference import Vocoder, load_clip
from .metrics import Measurement, measure_signal

# the quality keys every clip result carries (None where a metric is not installed)
QUALITY = ("pesq_wb", "stoi", "mel_l1", "mrstft", "mos", "real_mos")
LINE_KEYS = ("tonal_score_db", "tonal_max_db", "real_max_db", "line_over_real_db")
MIN_SECONDS = 1.0  # the tonal score needs ~1 s (5 active frames)
# written outputs are 32-bit float: re-measuring a saved file gives the reported numbers
WAV_SUBTYPE = "FLOAT"


@dataclass
class TestClip:
    """One test recording at the vocoder's sample rate."""

    __test__ = False  # a name pytest would otherwise try to collect where tests import it
    name: str
    path: Path
    samples: np.ndarray


@dataclass
class ClipResult:
    """What :func:`evaluate_clip` measured on one clip: the summary ``metrics``, the output's
    strongest predicted ``lines``, the whole ``measurement``, and the ``output`` when kept."""

    name: str
    metrics: Dict[str, Optional[float]]
    lines: List[dict] = field(default_factory=list)
    output: Optional[np.ndarray] = field(default=None, repr=False)
    measurement: Optional[Measurement] = field(default=None, repr=False)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, **self.metrics, "lines": self.lines}


def load_clips(files: Sequence, sample_rate: int, min_seconds: float = MIN_SECONDS,
               max_seconds: float = 60.0, log=print) -> List[TestClip]:
    """Read test recordings at ``sample_rate`` (files or folders of audio files).

    Unreadable, too short (under ``min_seconds``) and too long (over ``max_seconds``: the
    evaluation holds a clip and its resynthesis in memory) files are reported through
    ``log`` and skipped; two clips with one name get ``_`` appended.

    Raises:
        ValueError: no usable clip (the message says why each failed).
    """
    try:
        paths = find_audio_files(files)
    except AudioError as exc:
        raise ValueError(str(exc)) from None
    clips, failed, names = [], [], set()
    for path in paths:
        try:  # refused from its header when too long: the clip is held whole, with its resynthesis
            samples = load_clip(path, sample_rate, max_seconds=max_seconds,
                                min_samples=int(min_seconds * sample_rate), what="a test clip")
        except AudioError as exc:
            failed.append(str(exc))
            log(f"skipping test file {exc}")
            continue
        name = path.stem
        while name in names:
            name += "_"
        names.add(name)
        clips.append(TestClip(name, path, samples.astype(np.float32)))
    if not clips:
        raise ValueError("no usable test files:\n  " + "\n  ".join(failed or ["(none given)"]))
    return clips


def line_grid(vocoder: Vocoder) -> Dict[str, Any]:
    """``{"factors": ...}`` or ``{"hop": ...}``: where this vocoder can put lines (its upsampling stages)."""
    factors = getattr(vocoder.generator, "upsample_factors", None)
    return {"factors": list(factors)} if factors else {"hop": vocoder.hop_length}


def vocode(vocoder: Vocoder, clip: TestClip) -> np.ndarray:
    """The vocoder's resynthesis of ``clip`` through its own mel front end, float32."""
    return vocoder.wav_to_wav(torch.from_numpy(clip.samples)).numpy().astype(np.float32)


def evaluate_clip(vocoder: Vocoder, clip: TestClip, lines: int = 3, keep_output: bool = False,
                  optional: Sequence[str] = ("pesq_wb", "stoi", "mos"), audio_dir=None) -> ClipResult:
    """Resynthesise one clip and measure it against the real recording (see the module docstring).

    ``optional``: the optional metrics of :func:`audioup.metrics.reference_metrics` to compute;
    ``audio_dir``: write the output there as ``NAME.wav`` (32-bit float, so the file measures
    as reported).
    """
    sr = vocoder.sample_rate
    out = vocode(vocoder, clip)
    if audio_dir is not None:
        save_audio(Path(audio_dir) / f"{clip.name}.wav", out, sr, subtype=WAV_SUBTYPE)
    m = measure_signal(out, sr, **line_grid(vocoder), reference=clip.samples, name=clip.name,
                       optional=optional, max_tones=max(lines, 16))
    metrics: Dict[str, Optional[float]] = {k: getattr(m, k) for k in QUALITY if k != "real_mos"}
    over = None if m.tonal_max_db is None or m.reference_tonal_max_db is None else \
        m.tonal_max_db - m.reference_tonal_max_db
    metrics.update(real_mos=m.reference_mos, tonal_score_db=m.tonal_score_db, tonal_max_db=m.tonal_max_db,
                   real_max_db=m.reference_tonal_max_db, line_over_real_db=over)
    strongest = [{"freq_hz": t["freq_hz"], "prominence_db": t["prominence_db"], "layer": t["layer"]}
                 for t in m.tones[:lines]]
    return ClipResult(clip.name, metrics, strongest, out if keep_output else None, m)


def evaluate_vocoder(vocoder: Vocoder, clips: Sequence[TestClip], **kwargs) -> List[ClipResult]:
    """:func:`evaluate_clip` on every clip, in order."""
    return [evaluate_clip(vocoder, clip, **kwargs) for clip in clips]


def summarize(results: Sequence[ClipResult]) -> Dict[str, Any]:
    """Means over clips of every metric (``None`` when no clip has it), the worst line, the clip count."""
    out: Dict[str, Any] = {"clips": len(results)}
    for key in QUALITY + LINE_KEYS:
        values = [r.metrics[key] for r in results if r.metrics.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    over = [r.metrics["line_over_real_db"] for r in results if r.metrics.get("line_over_real_db") is not None]
    out["worst_line_over_real_db"] = float(max(over)) if over else None
    return out


def format_row(name: str, summary: Dict[str, Any], width: int = 24) -> str:
    """One table row: PESQ, STOI, mel L1, M-STFT, worst line over the real audio."""
    def num(key, fmt):
        v = summary.get(key)
        return format(v, fmt) if v is not None and not (isinstance(v, float) and math.isnan(v)) else "n/a"
    return (f"{name:<{width}} {num('pesq_wb', '5.2f'):>5} {num('stoi', '5.3f'):>5} {num('mel_l1', '6.3f'):>6} "
            f"{num('mrstft', '6.3f'):>6} {num('mos', '4.2f'):>4} {num('line_over_real_db', '+6.1f'):>6} "
            f"{num('worst_line_over_real_db', '+6.1f'):>6}")


def table_header(width: int = 24) -> str:
    return (f"{'':<{width}} {'PESQ':>5} {'STOI':>5} {'mel L1':>6} {'M-STFT':>6} {'MOS':>4} {'line':>6} {'worst':>6}"
            f"\n{'':<{width}} {'':>5} {'':>5} {'':>6} {'':>6} {'':>4} {'dB':>6} {'dB':>6}")


__all__ = ["TestClip", "ClipResult", "load_clips", "vocode", "evaluate_clip", "evaluate_vocoder", "summarize",
           "format_row", "table_header", "line_grid", "AudioError"]
