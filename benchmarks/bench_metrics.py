"""Speed and memory of the reference-free tonal score on a 1-hour 22.05 kHz file, against Welch.

``--table`` instead prints the tonal score of the issue-9 signals (pitched notes,
pauses, rates, lengths, a wrong hop, ...) as JSON; run it once with this tree and
once with a checkout of the v1 metric on PYTHONPATH to compare the two definitions
(``tonal_score(x, sr, factors=...).tonal_score_db`` exists in both).

Builds a 1-hour 16-bit WAV (the bundled speech, tiled with varying gain, plus
faint lines at the hop-256 frequencies) in a temporary folder, then on one
thread:

1. in memory: ``tonal_score`` (v2: one pass of non-overlapping frames into
   level-bucketed medians, scoring, null grids, hop search), the full
   stationary spectrum with persistence (what ``audioup measure`` adds for
   blind detection), and
   ``scipy.signal.welch`` (nperseg 4096, 50 % overlap, Hann, the same frames)
   over the same samples in 60 s pieces. Rounds are interleaved and the
   medians compared, so machine noise hits all alike.
2. streamed from the file in a fresh process each: ``measure_file`` without
   detection (the score; median of ``rounds`` processes), the same with the
   16-bit samples decoded to float32 by libsndfile (the read path before
   ``read_blocks`` scaled int16 itself), and a full ``measure_file`` record; peak resident memory above the process's baseline
   after imports (VmHWM), and the peak of all allocations in a second pass
   under tracemalloc (numpy reports its buffers to it).

Times are process CPU time (the machine is shared; one thread, so CPU time is
the work done) and wall time. Speed is seconds of audio per second.

``--excess`` prints reference-mode statistics (``excess_tonal_db`` of excerpts of
a recording against the whole, exact, low-passed with noise, and with a comb);
``--excess-rules DRAWS`` the same pairs' excess under three definitions (raw, the
reference clipped at 0, both clipped) over DRAWS noise draws.

Usage: python benchmarks/bench_metrics.py [--minutes 60] [--rounds 3] [--table | --excess | --excess-rules 4]
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SR, HOP = 22050, 256
REPO = Path(__file__).resolve().parents[1]


def make_file(path: Path, minutes: float) -> None:
    """Tiled speech with random gains and -50 dB lines at multiples of sr / 256, written in pieces."""
    import soundfile as sf

    from audioup.audio import load_audio

    speech = np.concatenate([load_audio(p, sample_rate=SR).samples
                             for p in sorted((REPO / "data" / "cmu_arctic").glob("*.wav"))])
    rng = np.random.default_rng(0)
    total = int(minutes * 60 * SR)
    freqs = np.arange(1, HOP // 2) * SR / HOP
    with sf.SoundFile(str(path), "w", SR, 1, subtype="PCM_16") as f:
        pos = 0
        while pos < total:
            n = min(len(speech), total - pos)
            t = (pos + np.arange(n)) / SR
            lines = 10 ** (-50 / 20) * 0.1 * np.cos(2 * np.pi * np.outer(t, freqs[::16])).sum(axis=1)
            f.write((speech[:n] * rng.uniform(0.3, 1.0) + lines).astype(np.float32))
            pos += n


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - w0, out


def in_memory(path: Path, rounds: int) -> dict:
    import scipy.signal
    import soundfile as sf

    from audioup.metrics import StationarySpectrum, tonal_score

    x, _ = sf.read(str(path), dtype="float32")
    seconds = len(x) / SR
    tonal_score(x[: SR * 10], SR, hop=HOP)  # warm imports and caches
    piece = 60 * SR

    def welch():
        for i in range(0, len(x), piece):
            scipy.signal.welch(x[i:i + piece], SR, window="hann", nperseg=4096, noverlap=2048)

    runs = {
        "tonal_score (v2)": lambda: tonal_score(x, SR, hop=HOP),
        "full stationary spectrum + persistence": lambda: StationarySpectrum(SR, 4096, persistence=True).update(x).result(),
        "scipy.signal.welch (same frames)": welch,
    }
    cpu = {k: [] for k in runs}
    wall = {k: [] for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            c, w, _ = timed(fn)
            cpu[name].append(c)
            wall[name].append(w)
    return {"seconds": seconds,
            "cpu": {k: statistics.median(v) for k, v in cpu.items()},
            "wall": {k: statistics.median(v) for k, v in wall.items()}}


def peak_rss_kib() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child(mode: str, path: str) -> None:
    """Runs in a fresh process: stream the file, print JSON with times and memory."""
    from audioup.metrics import measure_file
    import scipy.fft  # noqa: F401  (imported by the first FFT; count it in the baseline)

    import tracemalloc

    if mode == "score-float32":  # the read path before: libsndfile decodes 16-bit to float32
        from types import SimpleNamespace

        import audioup.metrics.measure as measure_mod
        from audioup.audio import io as audio_io

        def float_blocks(p, block, info):
            as_float = SimpleNamespace(samplerate=info.samplerate, subtype="FLOAT")
            return audio_io.read_blocks(p, block, as_float)

        measure_mod.read_blocks = float_blocks

    def run():
        rec = measure_file(path, hop=HOP, detect=mode not in ("score", "score-float32"))
        assert rec["error"] is None, rec["error"]
        return rec["tonal_score_db"]

    base = peak_rss_kib()
    c, w, score = timed(run)
    peak = peak_rss_kib()
    tracemalloc.start()  # second pass: the peak of everything allocated (numpy reports its buffers)
    run()
    traced = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"cpu": c, "wall": w, "extra_mb": (peak - base) / 1024, "base_mb": base / 1024,
                      "peak_mb": peak / 1024, "traced_mb": traced / 2**20, "score": score,
                      "torch": "torch" in sys.modules}))


def signal_table() -> dict:
    """Tonal score (hop 256 / 8,8,2,2 unless named) of the signals issue 9 lists, by name."""
    from audioup.audio import load_audio
    from audioup.metrics import tonal_score

    files = sorted((REPO / "data" / "cmu_arctic").glob("*.wav"))
    rng = np.random.default_rng(0)

    def speech(sr):
        return np.concatenate([load_audio(p, sample_rate=sr).samples for p in files])

    def rms(x):
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))

    def comb(n, sr, level, ref, hop=256):
        t = np.arange(n) / sr
        amp = ref * 10 ** (level / 20) * np.sqrt(2)
        return sum(amp * np.cos(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in np.arange(1, hop // 2 + 1) * sr / hop)

    def saw(f0, n, sr, top=None):
        t = np.arange(n) / sr
        return 0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int((top or sr / 2) // f0) + 1))

    def score(x, sr=SR, **kw):
        kw = kw or {"factors": (8, 8, 2, 2)}
        return round(float(tonal_score(np.asarray(x, np.float32), sr, **kw).tonal_score_db), 2)

    x = speech(SR)
    long = np.concatenate([x * g for g in rng.uniform(0.4, 1.0, 6)])[:30 * SR]
    n3 = 3 * SR
    quiet = 1e-4 * rng.standard_normal(n3)
    out = {}
    out["sawtooth 172.27 Hz (on grid)"] = score(saw(SR / 128, n3, SR) + quiet)
    out["sawtooth A440 band-limited 5 kHz"] = score(saw(440, n3, SR, 5000) + quiet)
    out["C major chord (C4 E4 G4)"] = score(sum(saw(f, n3, SR, 6000) for f in (261.63, 329.63, 392.0)) + quiet)
    out["speech + 50 Hz hum sawtooth"] = score(x[:n3] + 0.03 * saw(50, n3, SR))
    notes = [score(saw(110 * 2 ** (i / 12), n3, SR, 8000) + quiet) for i in range(25)]
    out["25 notes A2-A4: median"] = float(np.median(notes))
    out["25 notes A2-A4: max"] = float(np.max(notes))
    for L in (1, 3, 30):
        out[f"clean speech {L} s"] = score(long[:L * SR])
    level = rms(long[:20 * SR])
    out["speech + comb -50 dB/line, continuous"] = score(long[:20 * SR] + comb(20 * SR, SR, -50, level))
    for share in (0.7, 0.45, 0.35):
        parts = []
        for i in range(0, 20 * SR, SR):
            parts += [long[i:i + SR], 1e-4 * rng.standard_normal(int(SR * (1 - share) / share))]
        y = np.concatenate(parts)
        out[f"speech + comb -50 dB/line, {share:.0%} active"] = score(y + comb(len(y), SR, -50, level))
    for sr in (22050, 44100, 48000):
        y = speech(sr)
        out[f"speech + comb -50 dB/line at {sr} Hz (hop 256)"] = score(y + comb(len(y), sr, -50, rms(y)), sr, hop=256)
    t = np.arange(len(x)) / SR
    out["speech + 5512.5 + 11025 Hz at -30 dB"] = score(
        x + rms(x) * np.sqrt(2) * 10 ** (-1.5) * (np.cos(2 * np.pi * 5512.5 * t) + np.cos(2 * np.pi * 11025 * t)))
    y = x[:n3] + comb(n3, SR, -40, rms(x), hop=300)
    out["hop-300 comb -40 dB measured with hop 256"] = score(y, hop=256)
    out["hop-300 comb -40 dB measured with hop 300"] = score(y, hop=300)
    return out


def excess_table() -> dict:
    """Reference mode (``measure_signal(part, reference=whole)``) on excerpts of 80 s of speech.

    Rows: exact excerpts; the same low-passed ([.25 .5 .25]) with white noise at -50 dB
    (same content, not the same samples); with a -50 dB comb (must stand out). The
    80 s reference tiles the bundled speech at random gains, so an excerpt may match a
    repeat at another gain. Statistics of ``excess_tonal_db`` per length.
    """
    from audioup.audio import load_audio
    from audioup.metrics import measure_signal

    files = sorted((REPO / "data" / "cmu_arctic").glob("*.wav"))
    x = np.concatenate([load_audio(p, sample_rate=SR).samples for p in files])
    rng = np.random.default_rng(0)
    ref = np.concatenate([x * g for g in rng.uniform(0.4, 1.0, 12)])[:80 * SR].astype(np.float32)

    def excess(y):
        return measure_signal(y.astype(np.float32), SR, factors=(8, 8, 2, 2), reference=ref,
                              optional=()).excess_tonal_db

    def stats(v):
        v = np.array(v)
        return {"n": len(v), "mean": round(float(v.mean()), 3), "sd": round(float(v.std()), 3),
                "max_abs": round(float(np.abs(v).max()), 3), "min": round(float(v.min()), 2),
                "share_below_0.2": round(float(np.mean(np.abs(v) < 0.2)), 2)}

    out = {}
    for seconds, count in ((1, 30), (3, 10), (30, 4)):
        rows = {"exact": [], "low-passed + noise -50 dB": [], "+ comb -50 dB/line": []}
        for start in rng.uniform(0, 80 - seconds, count):
            part = ref[int(start * SR):int(start * SR) + seconds * SR].astype(np.float64)
            level = float(np.sqrt(np.mean(part ** 2)))
            t = np.arange(len(part)) / SR
            rows["exact"].append(excess(part))
            rows["low-passed + noise -50 dB"].append(excess(
                np.convolve(part, [0.25, 0.5, 0.25], mode="same")
                + level * 10 ** (-2.5) * rng.standard_normal(len(part))))
            rows["+ comb -50 dB/line"].append(excess(part + sum(
                level * 10 ** (-2.5) * np.sqrt(2) * np.cos(2 * np.pi * f * t + rng.uniform(0, 6.3))
                for f in np.arange(1, 129) * SR / 256)))
        for name, v in rows.items():
            out[f"{seconds} s, {name}"] = stats(v)
    return out


def excess_rules(draws: int = 4) -> dict:
    """The excess of same-content pairs under three definitions, over ``draws`` noise draws.

    Excerpts (30 x 1 s, 10 x 3 s) of the same 80 s reference as :func:`excess_table`,
    low-passed ([.25 .5 .25]) with white noise at -50 dB, or with the noise alone; each
    pair scored as ``measure_signal`` scores it (the matching span, ``frame_step``).
    ``raw``: file minus reference; ``ref-clip``: the reference raised to
    ``min(file, 0)`` (the first v3 rule); ``both-clip``: ``max(file, 0) - max(ref, 0)``
    (:func:`audioup.metrics.excess_tonal_db`).
    """
    from audioup.audio import load_audio
    from audioup.metrics import frame_step, tonal_score
    from audioup.metrics.align import matching_span

    files = sorted((REPO / "data" / "cmu_arctic").glob("*.wav"))
    x = np.concatenate([load_audio(p, sample_rate=SR).samples for p in files])
    rng = np.random.default_rng(0)
    ref = np.concatenate([x * g for g in rng.uniform(0.4, 1.0, 12)])[:80 * SR].astype(np.float32)
    rules = {"raw": lambda g, r: g - r, "ref-clip": lambda g, r: g - max(r, min(g, 0.0)),
             "both-clip": lambda g, r: max(g, 0.0) - max(r, 0.0)}
    out = {}
    for variant in ("low-passed + noise -50 dB", "noise -50 dB"):
        for seconds, count in ((1, 30), (3, 10)):
            vals = {k: [] for k in rules}
            for start in rng.uniform(0, 80 - seconds, count):
                part = ref[int(start * SR):int(start * SR) + seconds * SR].astype(np.float64)
                level = float(np.sqrt(np.mean(part ** 2)))
                if variant.startswith("low"):
                    part = np.convolve(part, [0.25, 0.5, 0.25], mode="same")
                for _ in range(draws):
                    y = (part + level * 10 ** (-2.5) * rng.standard_normal(len(part))).astype(np.float32)
                    a, b = matching_span(y, ref, SR)
                    step = frame_step(min(y.size, b - a), 4096)
                    g, r = (tonal_score(z, SR, factors=(8, 8, 2, 2), step=step).tonal_score_db
                            for z in (y, ref[a:b]))
                    for k, f in rules.items():
                        vals[k].append(f(g, r))
            for k, v in vals.items():
                v = np.array(v)
                out[f"{seconds} s, {variant}, {k}"] = {
                    "n": len(v), "mean": round(float(v.mean()), 3), "sd": round(float(v.std()), 3),
                    "max_abs": round(float(np.abs(v).max()), 3),
                    "share_below_0.2": round(float(np.mean(np.abs(v) < 0.2)), 3),
                    "share_exactly_0": round(float(np.mean(v == 0)), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--table", action="store_true", help="print the issue-9 signal table (JSON) and exit")
    ap.add_argument("--excess", action="store_true",
                    help="print reference-mode statistics on excerpts of 80 s of speech (JSON) and exit")
    ap.add_argument("--excess-rules", type=int, metavar="DRAWS", default=0,
                    help="print the excess of same-content pairs under three definitions over DRAWS "
                         "noise draws (JSON) and exit")
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    if args.table:
        return print(json.dumps(signal_table(), indent=1))
    if args.excess:
        return print(json.dumps(excess_table(), indent=1))
    if args.excess_rules:
        return print(json.dumps(excess_rules(args.excess_rules), indent=1))
    import scipy
    import torch

    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), "
          f"numpy {np.__version__}, scipy {scipy.__version__}, torch {torch.__version__}, one thread")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hour.wav"
        make_file(path, args.minutes)
        print(f"file: {args.minutes:g} min at {SR} Hz, 16-bit, {path.stat().st_size / 2**20:.0f} MiB")
        res = in_memory(path, args.rounds)
        sec = res["seconds"]
        welch_cpu = res["cpu"]["scipy.signal.welch (same frames)"]
        print(f"\nin memory, median of {args.rounds} interleaved rounds (x real time = audio s / s):")
        print(f"  {'':40s} {'cpu s':>7s} {'x RT cpu':>9s} {'x RT wall':>9s} {'vs Welch':>8s}")
        for name in res["cpu"]:
            c, w = res["cpu"][name], res["wall"][name]
            print(f"  {name:40s} {c:7.2f} {sec / c:9.0f} {sec / w:9.0f} {welch_cpu / c:7.2f}x")
        print("\nstreamed from the file, fresh process each (memory above the baseline after imports):")
        labels = {"score": "tonal score from file", "score-float32": "same, 16-bit decoded to float32",
                  "measure": "measure_file (score + detection)"}
        # score and score-float32 alternate, `rounds` fresh processes each; the median is shown
        for mode in ("score", "score-float32", "measure"):
            runs = []
            for _ in range(args.rounds if mode != "measure" else 1):
                out = subprocess.run([sys.executable, __file__, "--child", mode, str(path)],
                                     capture_output=True, text=True, check=True)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = sorted(runs, key=lambda x: x["cpu"])[len(runs) // 2]
            label = labels[mode]
            print(f"  {label:40s} cpu {r['cpu']:6.2f} s ({sec / r['cpu']:5.0f}x RT), wall {r['wall']:6.2f} s "
                  f"({sec / r['wall']:5.0f}x RT), peak RSS {r['peak_mb']:.0f} MB (+{r['extra_mb']:.0f} MB "
                  f"over {r['base_mb']:.0f} MB after imports), traced peak {r['traced_mb']:.0f} MB, "
                  f"score {r['score']:.2f} dB, torch imported: {r['torch']}")


if __name__ == "__main__":
    main()
