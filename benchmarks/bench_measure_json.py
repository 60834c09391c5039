"""Cost of ``audioup measure --json --csv`` over many files, against the same run without them.

The records are appended to the JSON and CSV as they finish
(:class:`audioup.metrics.writer.RecordWriter`), so the outputs should cost about one
record's size per file. Two measurements, printed side by side:

1. the command on ``--files`` short WAVs (1.2 s, 22.05 kHz, 16-bit tone plus noise),
   plain and with ``--json --csv``, each in a fresh process (wall time and the
   child's user + system CPU);
2. the writer alone: ``RecordWriter.add`` of ``--records`` copies of a real record,
   the time per record over the first and the last tenth (flat when each append
   costs the same, growing when the whole file is rewritten), and the total.

With ``--baseline-repo`` the command is also run with another checkout's audioup (a
writer that rewrites the JSON every second shows its cost only in a long run: use
``--files 10000``).

    python benchmarks/bench_measure_json.py                  # 2000 files, 20000 records
    python benchmarks/bench_measure_json.py --files 200 --records 2000
    python benchmarks/bench_measure_json.py --baseline-repo ../old-checkout   # also its --json run
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


def write_files(folder: Path, n: int) -> None:
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(1.2 * RATE)) / RATE
    for i in range(n):
        x = 0.3 * np.sin(2 * np.pi * (200 + i % 300) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(folder / f"f{i:05d}.wav", x.astype(np.float32), RATE, subtype="PCM_16")


def run_measure(folder: Path, outputs: list, repo: Path = REPO) -> dict:
    cmd = [sys.executable, "-m", "audioup", "measure", str(folder), "--hop", "256", "--no-optional",
           "--quiet", *outputs]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=repo)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def writer_alone(folder: Path, n: int, repo: Path = REPO) -> dict:
    """``RecordWriter.add`` timed in a fresh process importing audioup from ``repo``."""
    code = f"""
import json, sys, tempfile, time
from pathlib import Path
import numpy as np
from audioup.metrics import RecordWriter, measure_file
rec = measure_file({str(folder / "f00000.wav")!r}, hop=256, optional=())
n, times = {n}, []
with tempfile.TemporaryDirectory() as tmp:
    start_all = time.perf_counter()
    with RecordWriter(Path(tmp) / "r.json", Path(tmp) / "r.csv") as writer:
        for i in range(n):
            start = time.perf_counter()
            writer.add(dict(rec, path=f"{{i}}.wav"))
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
    close = time.perf_counter() - start
    total = time.perf_counter() - start_all
tenth = max(1, n // 10)
print(json.dumps({{"first_us": 1e6 * float(np.mean(times[:tenth])), "last_us": 1e6 * float(np.mean(times[-tenth:])),
                  "close": close, "total": total}}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo)
    if proc.returncode != 0:
        raise SystemExit(f"writer benchmark failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--baseline-repo", type=Path,
                        help="another audioup checkout (e.g. before this change): its --json --csv run too")
    args = parser.parse_args()
    print(f"`audioup measure` over {args.files} files of 1.2 s (one process each, 1 thread)")
    print("| run | wall s | CPU s (user + sys) | x plain (wall) | x plain (CPU) |")
    print("|---|---:|---:|---:|---:|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "wavs"
        folder.mkdir()
        write_files(folder, max(args.files, 1))
        outputs = ["--json", str(Path(tmp) / "o.json"), "--csv", str(Path(tmp) / "o.csv")]
        runs = [("plain", [], REPO), ("--json --csv", outputs, REPO)]
        if args.baseline_repo:
            runs.append((f"--json --csv, {args.baseline_repo}", outputs + ["--force"], args.baseline_repo.resolve()))
        plain = None
        for name, extra, repo in runs:  # each row as soon as it is measured (a baseline may take long)
            r = run_measure(folder, extra, repo)
            plain = plain or r
            print(f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['wall'] / plain['wall']:.2f} | "
                  f"{r['cpu'] / plain['cpu']:.2f} |", flush=True)
        # a writer that rewrites every second is cheap here (20,000 adds take under a second):
        # its cost shows only in a long run, above
        w = writer_alone(folder, args.records)
    print(f"\n`RecordWriter.add` alone, {args.records} records (JSON and CSV), one process")
    print("| us per record, first tenth | us per record, last tenth | last / first | close s | total s |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {w['first_us']:.0f} | {w['last_us']:.0f} | {w['last_us'] / w['first_us']:.2f} | "
          f"{w['close']:.2f} | {w['total']:.1f} |")


if __name__ == "__main__":
    main()
