"""Calibrate ``null_spread_db`` on real clean recordings (issue 21).

The null spread is the standard deviation of the score over shifted grids. On
clean material the score should read 0 +- one spread, i.e. ``score / spread``
should have a standard deviation of 1. This script measures that ratio on
clean speech and music, fits the scale (:data:`audioup.metrics.tonal.NULL_SPREAD_SCALE`)
on one part (the calibration set) and checks it on another (held out: other
speakers, other tracks).

Corpora: the bundled CMU ARCTIC clips and the offline corpus under /work/offline
(speech: Fillets-NG Czech voices and a festvox Russian speaker; music: Battle for
Wesnoth orchestral tracks, cut into excerpts). Calibration: speech ``val.txt`` and
music ``train.txt``; held out: speech ``test.txt`` (held-out speakers) and music
``val.txt`` + ``test.txt`` (other tracks).

    python benchmarks/calibrate_null_spread.py [--offline /work/offline] [--max-clips 80]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audioup.audio import load_audio  # noqa: E402
from audioup.metrics import tonal  # noqa: E402

SR, FACTORS = 22050, (8, 8, 2, 2)


def _list(folder: Path, name: str):
    return [folder / line.strip() for line in (folder / name).read_text().splitlines() if line.strip()]


def _excerpts(x: np.ndarray, seconds: float, most: int):
    n = int(seconds * SR)
    starts = np.linspace(0, max(0, len(x) - n), max(1, min(most, len(x) // n)), dtype=int)
    return [x[s:s + n] for s in starts]


def _ratios(clips):
    """``(score, raw_spread)`` of each clip (the spread without the scale)."""
    out = []
    for x in clips:
        try:
            s = tonal.tonal_score(x, SR, factors=FACTORS)
        except ValueError:
            continue
        out.append((s.tonal_score_db, s.null_spread_db / tonal.NULL_SPREAD_SCALE))
    return np.array(out)


def _speech(paths, most):
    return [load_audio(p, sample_rate=SR).samples for p in paths[:most]]


def _music(paths, seconds, per_track):
    clips = []
    for p in paths:
        clips += _excerpts(load_audio(p, sample_rate=SR).samples, seconds, per_track)
    return clips


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offline", type=Path, default=Path("/work/offline"))
    ap.add_argument("--max-clips", type=int, default=80, help="speech clips per list")
    ap.add_argument("--music-seconds", type=float, default=5.0)
    ap.add_argument("--per-track", type=int, default=4, help="music excerpts per track")
    args = ap.parse_args(argv)
    speech = args.offline / "speech_build" / "speech"
    music = args.offline / "music_build" / "music"
    repo = Path(__file__).resolve().parents[1]
    t0 = time.time()
    sets = {
        "calibration": {
            "speech (offline val)": _speech(_list(speech, "val.txt"), args.max_clips),
            "music (train tracks)": _music(_list(music, "train.txt"), args.music_seconds, args.per_track),
        },
        "held out": {
            "speech (offline test, other speakers)": _speech(_list(speech, "test.txt"), args.max_clips),
            "speech (CMU ARCTIC)": _speech(sorted((repo / "data" / "cmu_arctic").glob("*.wav")), 2),
            "music (val + test tracks)": _music(_list(music, "val.txt") + _list(music, "test.txt"),
                                                args.music_seconds, args.per_track),
        },
    }
    results = {name: {k: _ratios(v) for k, v in group.items()} for name, group in sets.items()}
    cal = np.concatenate([r for r in results["calibration"].values()])
    scale = float(np.std(cal[:, 0] / cal[:, 1]))
    print(f"NULL_SPREAD_SCALE (this run's fit, now {tonal.NULL_SPREAD_SCALE:g}): {scale:.3f}")
    print(f"{'set':40s} {'n':>4s} {'sd(score/raw)':>14s} {'sd(score/spread) at scale':>26s} "
          f"{'share |z|>2.5':>14s} {'mean score':>11s}")
    for name, group in results.items():
        for k, r in group.items():
            if not len(r):
                continue
            z = r[:, 0] / r[:, 1]
            zs = z / scale
            print(f"{name + ': ' + k:40s} {len(r):4d} {np.std(z):14.3f} {np.std(zs):26.3f} "
                  f"{np.mean(np.abs(zs) > 2.5):14.3f} {np.mean(r[:, 0]):+11.3f}")
    held = np.concatenate([r for r in results["held out"].values() if len(r)])
    zs = held[:, 0] / held[:, 1] / scale
    print(f"held out, all: n={len(held)} sd={np.std(zs):.3f} |z|>2.5: {100 * np.mean(np.abs(zs) > 2.5):.1f} % "
          f"|z|>2: {100 * np.mean(np.abs(zs) > 2):.1f} %  ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
