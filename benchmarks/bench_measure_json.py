"""Cost of ``audioup measure --json --csv`` over many files, against the same run without them.

The records are appended to the JSON and CSV as they finish
(:class:`audioup.metrics.writer.RecordWriter`), so the outputs should cost about one
record's size per file. Two measurements, printed side by side:

1. the command on ``--files`` short WAVs (1.2 s, 22.05 kHz, 16-bit tone plus noise),
   plain and with ``--json --csv``, each in a fresh process (wall time and the
   child's user + system CPU);
2. the writer alone: ``RecordWriter.add`` of ``--records`` copies of a real record,
   the time per record over the first and the last tenth (flat when each append
   costs the same, growing when the whole file is rewritten).

    python benchmarks/bench_measure_json.py                  # 2000 files, 20000 records
    python benchmarks/bench_measure_json.py --files 200 --records 2000
"""
from __future__ import annotations

import argparse
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


def write_files(folder: Path, n: int) -> None:
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(1.2 * RATE)) / RATE
    for i in range(n):
        x = 0.3 * np.sin(2 * np.pi * (200 + i % 300) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(folder / f"f{i:05d}.wav", x.astype(np.float32), RATE, subtype="PCM_16")


def run_measure(folder: Path, outputs: list) -> dict:
    cmd = [sys.executable, "-m", "audioup", "measure", str(folder), "--hop", "256", "--no-optional",
           "--quiet", *outputs]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def writer_alone(folder: Path, n: int) -> tuple:
    sys.path.insert(0, str(REPO))
    from audioup.metrics import measure_file
    from audioup.metrics.writer import RecordWriter

    rec = measure_file(folder / "f00000.wav", hop=256, optional=())
    tenth = max(1, n // 10)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        with RecordWriter(Path(tmp) / "r.json", Path(tmp) / "r.csv") as writer:
            for i in range(n):
                start = time.perf_counter()
                writer.add(dict(rec, path=f"{i}.wav"))
                times.append(time.perf_counter() - start)
            start = time.perf_counter()
        close = time.perf_counter() - start  # the final rewrite in input order (in __exit__)
    return 1e6 * float(np.mean(times[:tenth])), 1e6 * float(np.mean(times[-tenth:])), close


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--records", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "wavs"
        folder.mkdir()
        write_files(folder, max(args.files, 1))
        plain = run_measure(folder, [])
        with_outputs = run_measure(folder, ["--json", str(Path(tmp) / "o.json"), "--csv", str(Path(tmp) / "o.csv")])
        first, last, close = writer_alone(folder, args.records)
    print(f"`audioup measure` over {args.files} files of 1.2 s (one process each, 1 thread)")
    print("| run | wall s | CPU s (user + sys) | x plain (wall) | x plain (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("plain", plain), ("--json --csv", with_outputs)):
        print(f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['wall'] / plain['wall']:.2f} | "
              f"{r['cpu'] / plain['cpu']:.2f} |")
    print(f"\nRecordWriter.add alone, {args.records} records: {first:.0f} us per record over the first tenth, "
          f"{last:.0f} us over the last ({last / first:.2f}x); final rewrite in input order {close:.2f} s")


if __name__ == "__main__":
    main()
