"""Peak memory of ``audioup vocode`` on long files: chunked (the default) vs in one piece.

Each measurement runs in a fresh process (``--child``), which builds a generator at
initialisation (weights do not change memory), vocodes one WAV with
:meth:`audioup.inference.Vocoder.vocode_files` and prints its peak resident memory
(``ru_maxrss``) before and after vocoding. The parent writes the test files (a
tone plus noise at 22.05 kHz, 16-bit) and prints one table with the ratios.

    python benchmarks/bench_vocode_memory.py                       # tiny preset, 2 and 20 minutes
    python benchmarks/bench_vocode_memory.py --preset v1 --minutes 0.5 --whole-minutes 0.5
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RATE = 22050


def write_test_file(path: Path, minutes: float) -> None:
    import soundfile as sf

    rng = np.random.default_rng(0)
    total, block = int(minutes * 60 * RATE), RATE * 10
    with sf.SoundFile(str(path), "w", RATE, 1, "PCM_16") as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / RATE
            f.write(0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n))


def child(args) -> None:
    import torch

    from audioup.inference import build_vocoder
    from audioup.train.config import load_config
    from audioup.train.setup import generator_config, mel_settings

    torch.set_num_threads(args.threads)
    cfg = load_config(REPO / "recipes" / "base.yaml", [f"model.preset={args.preset}"], for_run=False)
    voc = build_vocoder(generator_config(cfg), mel_settings(cfg))
    voc.context_frames()  # measured once per model; not part of the file's cost
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = voc.vocode_files([args.child], out, progress=False, chunk_frames=args.chunk_frames)
        seconds = time.perf_counter() - start
    assert len(report.written) == 1, report.failed
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_mb": before / 1024, "peak_mb": peak / 1024, "seconds": seconds}))


def measure(wav: Path, preset: str, chunk_frames: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(wav), "--preset", preset,
           "--chunk-frames", str(chunk_frames), "--threads", str(threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", help="HiFi-GAN preset (default tiny; v1 is ~40x slower on CPU)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.0, 20.0], help="chunked runs")
    parser.add_argument("--whole-minutes", type=float, nargs="*", default=[2.0],
                        help="also vocode these lengths in one piece (the old behaviour)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--chunk-frames", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    from audioup.inference import CHUNK_FRAMES

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in sorted(set(args.minutes) | set(args.whole_minutes)):
            wav = Path(tmp) / f"{minutes:g}min.wav"
            write_test_file(wav, minutes)
            modes = [("chunked", CHUNK_FRAMES)] if minutes in args.minutes else []
            modes += [("whole", 1 << 40)] if minutes in args.whole_minutes else []
            for mode, frames in modes:
                rows.append((minutes, mode, measure(wav, args.preset, frames, args.threads)))
    print(f"preset {args.preset}, {args.threads} thread(s), chunks of {CHUNK_FRAMES} frames; "
          "peak resident memory of the whole process (setup = after building the model)")
    print("| audio | mode | setup MB | peak MB | vocode MB (peak - setup) | x chunked | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|")
    chunked = {m: r["peak_mb"] - r["before_mb"] for m, mode, r in rows if mode == "chunked" and "error" not in r}
    for minutes, mode, r in rows:
        if "error" in r:
            print(f"| {minutes:g} min | {mode} | | | failed: {r['error']} | | |")
            continue
        used = r["peak_mb"] - r["before_mb"]
        ratio = f"{used / chunked[minutes]:.2f}" if minutes in chunked else ""
        print(f"| {minutes:g} min | {mode} | {r['before_mb']:.0f} | {r['peak_mb']:.0f} | {used:.0f} | "
              f"{ratio} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
