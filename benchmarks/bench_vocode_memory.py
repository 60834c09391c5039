"""Peak memory of ``audioup vocode`` and ``audioup mel`` on long files: streamed vs in one piece.

Each measurement runs in a fresh process (``--child``), which builds a generator at
initialisation (weights do not change memory), vocodes one WAV with
:meth:`audioup.inference.Vocoder.vocode_files` (streamed: read, vocoded in chunks and
written block by block) or writes its mel with :func:`audioup.commands.mel.write_mel`,
and prints its peak resident memory (``ru_maxrss``) before and after. The parent writes
the test files (a tone plus noise at 22.05 kHz, 16-bit) and prints one table; "x first"
is the memory used over that of the shortest file of the same mode (bounded: ~1.0).

    python benchmarks/bench_vocode_memory.py                       # tiny preset, 20 and 120 minutes
    python benchmarks/bench_vocode_memory.py --minutes 2 --whole-minutes 2   # vs the one-piece path
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

    from audioup.commands.mel import write_mel

    torch.set_num_threads(args.threads)
    cfg = load_config(REPO / "recipes" / "base.yaml", [f"model.preset={args.preset}"], for_run=False)
    voc = build_vocoder(generator_config(cfg), mel_settings(cfg))
    voc.context_frames()  # measured once per model; not part of the file's cost
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        if args.what == "mel":
            write_mel(args.child, Path(out) / "x.npy", voc.mel)
        else:
            report = voc.vocode_files([args.child], out, progress=False, chunk_frames=args.chunk_frames)
            assert len(report.written) == 1, report.failed
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_mb": before / 1024, "peak_mb": peak / 1024, "seconds": seconds}))


def measure(wav: Path, preset: str, chunk_frames: int, threads: int, what: str = "vocode") -> dict:
    cmd = [sys.executable, __file__, "--child", str(wav), "--preset", preset,
           "--chunk-frames", str(chunk_frames), "--threads", str(threads), "--what", what]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", help="HiFi-GAN preset (default tiny; v1 is ~40x slower on CPU)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[20.0, 120.0],
                        help="streamed runs (vocode and mel)")
    parser.add_argument("--whole-minutes", type=float, nargs="*", default=[],
                        help="also vocode these lengths in one piece (chunk_frames above the length: "
                             "the input, output and activations of the whole file)")
    parser.add_argument("--no-mel", action="store_true", help="leave out the mel runs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--chunk-frames", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--what", default="vocode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    from audioup.inference import CHUNK_FRAMES

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in sorted(set(args.minutes) | set(args.whole_minutes)):
            wav = Path(tmp) / f"{minutes:g}min.wav"
            write_test_file(wav, minutes)
            modes = [("vocode streamed", CHUNK_FRAMES, "vocode")] if minutes in args.minutes else []
            modes += [("mel streamed", CHUNK_FRAMES, "mel")] if minutes in args.minutes and not args.no_mel else []
            modes += [("vocode whole", 1 << 40, "vocode")] if minutes in args.whole_minutes else []
            for mode, frames, what in modes:
                rows.append((minutes, mode, measure(wav, args.preset, frames, args.threads, what)))
            wav.unlink()
    print(f"preset {args.preset}, {args.threads} thread(s), chunks of {CHUNK_FRAMES} frames; "
          "peak resident memory of the whole process (setup = after building the model)")
    print("| audio | mode | setup MB | peak MB | used MB (peak - setup) | x first | seconds | x real time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    first = {}
    for minutes, mode, r in rows:
        if "error" in r:
            print(f"| {minutes:g} min | {mode} | | | failed: {r['error']} | | | |")
            continue
        used = r["peak_mb"] - r["before_mb"]
        first.setdefault(mode, used)
        print(f"| {minutes:g} min | {mode} | {r['before_mb']:.0f} | {r['peak_mb']:.0f} | {used:.0f} | "
              f"{used / first[mode]:.2f} | {r['seconds']:.0f} | {minutes * 60 / r['seconds']:.1f} |")

if __name__ == "__main__":
    main()
