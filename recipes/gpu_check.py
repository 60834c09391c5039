#!/usr/bin/env python
"""GPU check: a short real training run of each upsampler kind on one GPU.

For every kind, trains HiFi-GAN V1 (recipes/ljspeech/hifigan_v1.yaml by default) on the
embedded corpus (built offline from the bundled speech) with the real training loop:
WARMUP steps first, then resumes to STEPS and reads the loop's own steps/s for the
resumed part (set-up and warm-up excluded). Prints steps/s, peak GPU memory and the
tonal score of a vocoded test utterance per kind, and appends a section naming the GPU to
benchmarks/RESULTS.md. A few minutes in all on a recent GPU.

    python recipes/gpu_check.py                       # needs CUDA; bf16, batch 16, 100 steps
    python recipes/gpu_check.py --device cpu --steps 2 --warmup 1 --kinds transposed   # smoke run

On CPU (a smoke run of the script itself) the defaults are the tiny recipe
(recipes/tiny.yaml) in fp32 at its batch size: seconds per kind, not a measurement.
Without a CUDA GPU it stops with a message and exit status 2 (unless --device cpu).

The whole GPU measurement, training-step benchmark included, in one command from the
repository root (an estimated 6-8 minutes on one H100/H200, not yet run; the GPU machine
lacks soundfile: fetch its wheels into .whl/ first, on a machine with a registry, with
`bash /work/shared/device/wheels.sh .whl`):

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site:$PWD \
      && python3 benchmarks/bench_train_step.py --device cuda \
      && python3 recipes/gpu_check.py --steps 60 --warmup 10
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from audioup.compare.runner import KINDS, kind_slug

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="recipe (default: recipes/ljspeech/hifigan_v1.yaml; "
                                    "on CPU recipes/tiny.yaml)")
    p.add_argument("--kinds", nargs="+", default=list(KINDS))
    p.add_argument("--steps", type=int, default=100, help="steps per kind (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="steps before timing starts (default 10)")
    p.add_argument("--batch-size", type=int, help="default: 16 on CUDA, the recipe's on CPU")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--device", default="cuda", help="cuda, cuda:1, ... or cpu (smoke run)")
    p.add_argument("--out", default=str(REPO / "runs" / "gpu_check"), help="run folders (replaced)")
    p.add_argument("--corpus", default=str(REPO / "data" / "corpus"), help="embedded corpus folder")
    p.add_argument("--results", help="Markdown file to append to (default on a GPU: "
                                     "benchmarks/RESULTS.md; on CPU: none)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="extra config overrides")
    args = p.parse_args(argv)
    if args.steps <= args.warmup or args.warmup < 1:
        p.error("need 1 <= --warmup < --steps")
    cuda = args.device.startswith("cuda")
    if args.config is None:
        args.config = str(REPO / "recipes" / ("ljspeech/hifigan_v1.yaml" if cuda else "tiny.yaml"))
    args.precision = args.precision or ("bf16" if cuda else "fp32")
    if args.batch_size is None and cuda:
        args.batch_size = 16
    return args


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def logged_rate(run_dir: Path) -> float:
    """The last ``steps_per_second`` the training loop wrote to TensorBoard."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "logs"), size_guidance={"scalars": 0})
    acc.Reload()
    events = acc.Scalars("steps_per_second")
    return float(events[-1].value)


def check_kind(kind: str, args, corpus) -> dict:
    import shutil

    import torch

    from audioup.audio.io import load_audio
    from audioup.evaluation import TestClip, evaluate_clip
    from audioup.inference import load_generator
    from audioup.train.config import load_config
    from audioup.train.loop import train

    run_dir = Path(args.out) / kind_slug(kind)
    shutil.rmtree(run_dir, ignore_errors=True)
    common = [*args.overrides, f"run_dir={run_dir}", f"model.upsampler={kind}", "data.files=[]",
              f"data.filelist={corpus.filelists['train']}", f"data.valid_files=[{corpus.filelists['val']}]",
              *([f"train.batch_size={args.batch_size}"] if args.batch_size else []),
              f"train.precision={args.precision}",
              f"train.device={args.device}", "train.progress=false", "data.num_workers=0",
              f"train.validation_interval={10 * args.steps}", "train.keep_last=1"]
    quiet = lambda *_: None  # noqa: E731
    # warm-up run (CUDA context, kernels, data cache); its checkpoint is where timing resumes
    train(load_config(args.config, [*common, f"max_steps={args.warmup}",
                                    f"train.checkpoint_interval={args.warmup}",
                                    f"train.log_interval={args.warmup}"]), log=quiet)
    timed = args.steps - args.warmup
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(args.device)
    start = time.perf_counter()
    train(load_config(args.config, [*common, f"max_steps={args.steps}",
                                    f"train.checkpoint_interval={args.steps}",
                                    f"train.log_interval={timed}"]), log=quiet)
    wall = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(args.device) / 2 ** 30 if args.device.startswith("cuda") else None
    vocoder = load_generator(run_dir, device=args.device)
    test = corpus.root / next(c.file for c in corpus.clips if c.split == "test")
    clip = TestClip(test.stem, test, load_audio(test, sample_rate=vocoder.sample_rate).samples)
    score = evaluate_clip(vocoder, clip, optional=()).metrics  # the evaluation convert and compare use
    params = sum(p.numel() for p in vocoder.generator.parameters())
    return {"kind": kind, "steps_per_s": logged_rate(run_dir), "timed_steps": timed, "wall_s": wall,
            "peak_gib": peak, "tonal_score_db": score["tonal_score_db"], "max_db": score["tonal_max_db"],
            "params": params}


def format_section(rows, args, name: str) -> str:
    import torch

    cfg = Path(args.config).resolve()
    cfg = cfg.relative_to(REPO) if cfg.is_relative_to(REPO) else cfg
    lines = [f"## GPU check: {name}", "",
             f"`python recipes/gpu_check.py` on {time.strftime('%Y-%m-%d')}: `{cfg}` on the embedded corpus, "
             f"batch {args.batch_size or 'as in the recipe'}, {args.precision}, {args.steps} steps per kind; steps/s over the "
             f"last {args.steps - args.warmup} (after {args.warmup} warm-up steps and a resume), from the "
             f"training loop's own counter. torch {torch.__version__}"
             + (f", CUDA {torch.version.cuda}" if args.device.startswith("cuda") else "")
             + f". Tonal score: one vocoded test utterance after {args.steps} steps (real speech: about 0-3 dB).",
             "", "| upsampler | steps/s | peak GPU memory (GiB) | tonal score (dB) | strongest line (dB) "
             "| inference params |", "|---|--:|--:|--:|--:|--:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['kind']} | failed: {r['error']} | | | | |")
            continue
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "n/a (CPU)"
        lines.append(f"| {r['kind']} | {r['steps_per_s']:.2f} | {peak} | {r['tonal_score_db']:.1f} "
                     f"| {r['max_db']:.1f} | {r['params'] / 1e6:.2f}M |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU available (torch.cuda.is_available() is False). This script "
              "measures training on a GPU; for a CPU smoke run use --device cpu --steps 2 --warmup 1.",
              file=sys.stderr)
        return 2
    from audioup.data.corpus import build_corpus

    corpus = build_corpus(args.corpus, progress=False)
    name = device_name(args.device)
    print(f"gpu_check on {name}: {len(args.kinds)} kinds x {args.steps} steps, batch {args.batch_size}, "
          f"{args.precision}", flush=True)
    rows = []
    for kind in args.kinds:
        try:
            row = check_kind(kind, args, corpus)
        except Exception as exc:  # report the kind and go on with the others
            row = {"kind": kind, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
            print(f"  {kind:15s} FAILED {row['error']}", flush=True)
        else:
            peak = f"{row['peak_gib']:.2f} GiB" if row["peak_gib"] is not None else "n/a"
            print(f"  {kind:15s} {row['steps_per_s']:7.2f} steps/s   peak {peak:>9s}   "
                  f"tonal score {row['tonal_score_db']:5.1f} dB", flush=True)
        rows.append(row)
    section = format_section(rows, args, name)
    results = args.results or (str(REPO / "benchmarks" / "RESULTS.md") if args.device.startswith("cuda") else None)
    if results:
        path = Path(results)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(("\n" if path.stat().st_size else "") + section)
        print(f"appended to {path}")
    else:
        print("\n" + section)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
