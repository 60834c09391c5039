#!/usr/bin/env python
"""The evidence run: every upsampler kind trained and compared within one time budget.

Trains HiFi-GAN V2 (recipes/offline/hifigan_v2.yaml; V2 gets more steps than V1 in the
same time) with each upsampler kind on a packed offline corpus (real recordings, see
data_scripts/prepare_offline.py), as many steps per kind as fit BUDGET seconds in all,
start-up and evaluation included, and evaluates every kind at step 0 and after training
on held-out speakers (unseen Fillets characters) with the tonal score and the quality
metrics (MR-STFT, mel L1, PESQ, periodicity, V/UV F1). How the budget is spent:

  1. every kind at initialisation (this also times one evaluation),
  2. the first kind trains WARMUP steps, then PROBE more: seconds per step (the loop's
     own clock) and the set-up every training run pays (reading the data),
  3. the plan: steps per kind = what the rest of the budget allows (printed first),
  4. audioup's compare trains every kind to that step (the first kind resumes) and
     writes the report; a bundle (report.md, PNGs, JSON, a few WAVs; < 60 MB) is
     copied to --bundle and a section is appended to benchmarks/RESULTS.md.

    # on a machine with apt: prepare and pack the data (60 + 4 + 4 min of speech in 23 MiB)
    python data_scripts/prepare_offline.py --out data/offline --max-minutes 60 --format ogg
    # on the GPU (8 minutes in all)
    python recipes/gpu_compare.py --data data/offline/speech_packed_ogg --device cuda
    # CPU proof with the tiny model
    python data_scripts/prepare_offline.py --out data/offline --pack-only --max-minutes 20 \\
        --packed-out data/offline/speech_packed_cpu      # less to decode at every start
    python recipes/gpu_compare.py --data data/offline/speech_packed_cpu --device cpu \\
        --config recipes/tiny.yaml --budget-s 1500 --no-periodicity --results /tmp/R.md
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLE_LIMIT_MB = 60
WAVS_PER_KIND = 2


def parse_args(argv=None):
    from audioup.compare.runner import KINDS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with train.txt, val.txt, test.txt (a packed subset)")
    p.add_argument("--config", default=str(REPO / "recipes" / "offline" / "hifigan_v2.yaml"))
    p.add_argument("--kinds", nargs="+", default=list(KINDS))
    p.add_argument("--budget-s", type=float, default=480.0, help="seconds for everything (default 480)")
    p.add_argument("--warmup", type=int, default=5, help="steps before the timed probe (default 5)")
    p.add_argument("--probe", type=int, default=20, help="timed probe steps (default 20)")
    p.add_argument("--test-files", type=int, default=8, help="held-out test clips to evaluate (default 8)")
    p.add_argument("--device", default="cuda", help="cuda or cpu (training and evaluation)")
    p.add_argument("--no-periodicity", action="store_true",
                   help="skip periodicity / V-UV F1 (torchcrepe: ~5 s per second of audio on one CPU thread)")
    p.add_argument("--out", default=str(REPO / "runs" / "gpu_compare"), help="comparison folder")
    p.add_argument("--bundle", help="where the small report bundle goes (default OUT/bundle)")
    p.add_argument("--results", help="Markdown file to append to (default benchmarks/RESULTS.md)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="extra config overrides")
    args = p.parse_args(argv)
    for flag in ("warmup", "probe", "test_files"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.budget_s <= 0:
        p.error(f"--budget-s must be positive, got {args.budget_s:g}")
    if args.bundle:  # the bundle folder is emptied first: never the comparison or anything above it
        out, dest = Path(args.out).resolve(), Path(args.bundle).resolve()
        if dest == out or dest in out.parents:
            p.error(f"--bundle {args.bundle} would hold --out {args.out}, and the bundle folder is "
                    "emptied first; name a folder of its own")
        if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not (dest / "report.md").is_file())):
            p.error(f"--bundle {args.bundle} exists and is not an earlier bundle (no report.md); "
                    "it would be emptied: name a new folder")
    return args


def held_out_tests(data: Path, n: int) -> list:
    """``n`` test clips spread evenly over the list, unseen Fillets characters first choice."""
    from audioup.data.dataset import read_filelist

    files = read_filelist(data / "test.txt")
    unseen = [f for f in files if "/fillets/" in f.as_posix()] or files
    if len(unseen) <= n:
        return unseen
    return [unseen[round(i * (len(unseen) - 1) / (n - 1))] for i in range(n)] if n > 1 else unseen[:1]


def plan_steps(budget_s: float, elapsed_s: float, eval_s: float, step_s: float, n_kinds: int,
               done_steps: int, setup_s: float = 5.0, margin: float = 0.15) -> int:
    """Steps per kind that fit the rest of the budget.

    What is left after the time already spent, one more evaluation and one set-up per
    kind, and a ``margin`` share of the budget kept back, is divided among the kinds;
    the first kind has already trained ``done_steps``.
    """
    left = budget_s * (1 - margin) - elapsed_s - n_kinds * (eval_s + setup_s)
    total = left / step_s + done_steps
    return max(done_steps, int(total // n_kinds))


def bundle(out: Path, dest: Path, limit_mb: float = BUNDLE_LIMIT_MB) -> float:
    """Copy report.md, the PNGs, the JSON results and a few WAVs per stage and kind; return MB."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for pattern in ("report.md", "*.png", "compare.json", "results/**/*.json"):
        for f in out.glob(pattern):
            target = dest / f.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    for folder in sorted(p for p in (out / "audio").glob("*/*") if p.is_dir()):
        for f in sorted(folder.glob("*.wav"))[:WAVS_PER_KIND]:
            target = dest / f.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) / 1e6
    if size > limit_mb:
        raise RuntimeError(f"{dest}: bundle is {size:.1f} MB, over {limit_mb} MB")
    return size


def logged_rate(run_dir: Path) -> float:
    """The last ``steps_per_second`` the training loop wrote to TensorBoard (set-up excluded)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "logs"), size_guidance={"scalars": 0})
    acc.Reload()
    return float(acc.Scalars("steps_per_second")[-1].value)


def device_name(device: str) -> str:
    import platform

    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"  # threads used: results_section


def results_section(comp, name: str, config: str, data: Path, tests: list, steps: int, wall: float,
                    budget_s: float, torch_version: str) -> list:
    """The lines appended to RESULTS.md: set-up, the trained table, step-0 levels, verdicts."""
    from audioup.compare.report import markdown_table, step0_levels, table, verdict

    info = comp.info
    levels = step0_levels(comp)
    return [f"## Upsampler comparison on real speech: {name}", "",
            f"`python recipes/gpu_compare.py` on {time.strftime('%Y-%m-%d')}: `{config}` "
            f"({info.get('generator')} {info.get('preset')}), {steps} steps per kind, batch "
            f"{info.get('batch_size')}, trained on `{data.name}` ({_minutes(data / 'train.txt')}), "
            f"evaluated on {len(tests)} clips ({info.get('test_seconds', 0.0):.0f} s) of held-out Fillets "
            f"characters; {wall:.0f} s in all (budget {budget_s:.0f} s), torch {torch_version}, "
            f"{info.get('threads')} torch thread(s) evaluating. "
            "Level: RMS re the real audio, DC removed; scores of the float WAVs as written.", "",
            markdown_table(table(comp, steps)), "",
            *([f"Output level at step 0 (DC removed, re the real audio): {levels}.", ""] if levels else []),
            *[f"- {verdict(r, comp.reference)}" for r in comp.rows(steps)], ""]


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    import torch

    from audioup.compare.runner import compare_upsamplers, kind_configs
    from audioup.train.loop import train

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_compare: no CUDA GPU (torch.cuda.is_available() is False); use --device cpu "
              "with --config recipes/tiny.yaml for a CPU run", file=sys.stderr)
        return 2
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    for name in ("train.txt", "val.txt", "test.txt"):
        if not (data / name).is_file():
            print(f"gpu_compare: {data / name} not found; prepare it with data_scripts/prepare_offline.py",
                  file=sys.stderr)
            return 2
    overrides = [*args.overrides, "data.files=[]", f"data.filelist={data / 'train.txt'}",
                 f"data.valid_files=[{data / 'val.txt'}]", f"train.device={args.device}",
                 "train.progress=false", "train.validation_interval=100000000",  # the comparison evaluates
                 "train.checkpoint_interval=100000000", f"data.num_workers={2 if args.device.startswith('cuda') else 0}"]
    tests = held_out_tests(data, args.test_files)
    kinds, name = list(args.kinds), device_name(args.device)
    print(f"gpu_compare on {name}: {len(kinds)} kinds ({', '.join(kinds)}), budget {args.budget_s:.0f} s "
          f"in all; config {args.config}; data {data}; {len(tests)} held-out test clips. Plan: evaluate "
          f"at step 0, probe {args.warmup}+{args.probe} steps, then as many steps per kind as fit.",
          flush=True)

    def log(line):
        print(line, flush=True)

    common = dict(kinds=kinds, overrides=overrides, test_files=tests, device=args.device,
                  periodicity=not args.no_periodicity)
    t = time.perf_counter()
    compare_upsamplers(args.config, out, init=True, trained=False, speed=False, log=log, **common)
    eval_s = (time.perf_counter() - t) / len(kinds)
    probe = [*overrides, f"train.log_interval={args.probe}"]
    train(kind_configs(args.config, out, kinds[:1], args.warmup, probe)[kinds[0]], log=lambda line: None)
    t = time.perf_counter()
    run_dir = Path(train(kind_configs(args.config, out, kinds[:1], args.warmup + args.probe, probe)[kinds[0]],
                         log=lambda line: None))
    wall = time.perf_counter() - t
    step_s = 1.0 / logged_rate(run_dir)  # the loop's own clock: set-up (reading the data) excluded
    setup_s = max(wall - args.probe * step_s, 0.0)  # paid again by every kind's training run
    elapsed = time.perf_counter() - start
    steps = plan_steps(args.budget_s, elapsed, eval_s, step_s, len(kinds), args.warmup + args.probe, setup_s)
    print(f"plan: {steps} steps per kind ({step_s:.3f} s/step and {setup_s:.0f} s of set-up measured on "
          f"{kinds[0]}, {eval_s:.0f} s per evaluation, {elapsed:.0f} s spent) -> about "
          f"{elapsed + len(kinds) * (eval_s + setup_s) + (len(kinds) * steps - args.warmup - args.probe) * step_s:.0f}"
          f" of {args.budget_s:.0f} s", flush=True)
    comp = compare_upsamplers(args.config, out, steps=steps, init=True, trained=True, speed=True,
                              report_text={"title": f"Upsampler comparison: {steps} steps per kind on {name}",
                                           "command": "python recipes/gpu_compare.py " + " ".join(sys.argv[1:])},
                              log=log, **common)
    wall = time.perf_counter() - start
    dest = Path(args.bundle) if args.bundle else out / "bundle"
    size = bundle(out, dest)
    cfg = Path(args.config).resolve()
    cfg = cfg.relative_to(REPO) if cfg.is_relative_to(REPO) else cfg
    section = results_section(comp, name, str(cfg), data, tests, steps, wall, args.budget_s, torch.__version__)
    results = Path(args.results) if args.results else REPO / "benchmarks" / "RESULTS.md"
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a") as f:
        f.write(("\n" if results.is_file() and results.stat().st_size else "") + "\n".join(section))
    (dest / "summary.json").write_text(json.dumps({"steps": steps, "wall_s": wall, "step_s": step_s,
                                                   "eval_s": eval_s, "device": name}, indent=1))
    print(f"{wall:.0f} s in all; report {comp.report}; bundle {dest} ({size:.1f} MB); appended to {results}")
    return 1 if any("error" in r for s in comp.stages for r in comp.rows(s)) else 0


def _minutes(filelist: Path) -> str:
    from audioup.audio.io import audio_info
    from audioup.data.dataset import read_filelist

    seconds = 0.0
    for f in read_filelist(filelist):
        info = audio_info(f)
        seconds += info.frames / info.samplerate
    return f"{seconds / 60:.0f} min of training audio"


if __name__ == "__main__":
    sys.exit(main())
