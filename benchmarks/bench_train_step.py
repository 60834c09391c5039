"""The real training step, optimisation by optimisation: steps/s, ops/kernels and host syncs per step.

Runs :func:`audioup.train.step.train_step` with the loop's :class:`LossMonitor` (as
:func:`audioup.train.profiling.run_steps`) on segments of the bundled speech, for
cumulative variants of the same math:

- ``plain``: per-tensor AdamW and clipping, losses checked and fetched every step (the
  landed loop's syncs; its D weight gradients in G's update are already skipped);
- ``+fused``: fused AdamW (one kernel for all parameters) and foreach clipping;
- ``+no sync``: losses checked every ``--interval`` steps (the loop's log interval);
- opt-in, not defaults: ``+channels_last`` (2D discriminator convolutions), and with
  ``--compile`` ``+compile`` / ``+cuda graphs`` (``torch.compile`` default and
  ``reduce-overhead`` modes; each compiles for a minute or two on a GPU).

Per variant: steps/s (best of ``--rounds`` timed runs of ``--steps`` steps, after
warm-up), ops per step (ATen calls), kernels per step and GPU busy share (CUDA), host
syncs per step, weight-norm evaluations per step, peak memory (CUDA). See
:mod:`audioup.train.profiling` for what is counted.

On CPU (default there): the tiny recipe in fp32. On CUDA: HiFi-GAN V1 + MPD + MSD,
batch 16 x 8192 samples, fp32 and bf16 for every variant, then batch 32 and every
upsampler kind in bf16 with the default variant. Appends a section naming the device to
benchmarks/RESULTS.md (``--results``; ``--no-results`` to only print).

    python benchmarks/bench_train_step.py                     # CPU, about a minute
    python benchmarks/bench_train_step.py --device cuda       # GPU, about 5 minutes (estimate, unmeasured)
"""
from __future__ import annotations

import argparse
import gc
import platform
import time
from pathlib import Path

import torch

from audioup.compare.runner import KINDS
from audioup.data.dataset import SegmentDataset
from audioup.train.config import load_config
from audioup.train.distributed import DistInfo
from audioup.train.state import new_state
from audioup.train.profiling import profile_steps, run_steps
from audioup.train.setup import build_context
from audioup.train.speed import apply_speed_options, cudnn_autotune

REPO = Path(__file__).resolve().parents[1]
SPEECH = REPO / "data" / "cmu_arctic"

# name -> (config overrides, check interval: None = --interval)
VARIANTS = {
    "plain": (["optim.implementation=for-loop"], 1),
    "+fused": (["optim.implementation=fused"], 1),
    "+no sync": (["optim.implementation=fused"], None),
    "+channels_last": (["optim.implementation=fused", "train.channels_last=true"], None),
}
COMPILED = {
    "+compile": (["optim.implementation=fused", "train.compile=default"], None),
    "+cuda graphs": (["optim.implementation=fused", "train.compile=reduce-overhead"], None),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, help="timed steps per round (default: CPU 10, CUDA 30)")
    p.add_argument("--rounds", type=int, default=2, help="timed runs per variant; the best counts")
    p.add_argument("--interval", type=int, default=10, help="steps between loss checks (log interval)")
    p.add_argument("--profile-steps", type=int, default=5)
    p.add_argument("--compile", action="store_true", help="also the torch.compile variants (slow to build)")
    p.add_argument("--quick", action="store_true", help="CUDA: only V1 batch 16 (no batch 32, no kinds)")
    p.add_argument("--results", default=str(REPO / "benchmarks" / "RESULTS.md"))
    p.add_argument("--no-results", action="store_true")
    args = p.parse_args(argv)
    args.steps = args.steps or (30 if args.device.startswith("cuda") else 10)
    args.interval = min(args.interval, args.steps)
    return args


def settings(args):
    """``(label, config file, overrides, variants, profiled)`` per measured setting."""
    variants = {**VARIANTS, **(COMPILED if args.compile else {})}
    common = [f"data.files=[{SPEECH}]", "data.valid_count=0", "train.progress=false",
              f"train.device={args.device}"]
    if not args.device.startswith("cuda"):
        return [("tiny fp32 batch 2 x 2048", REPO / "recipes" / "tiny.yaml", common, variants, True)]
    v1 = REPO / "recipes" / "base.yaml"
    out = [(f"V1 {prec} batch 16 x 8192", v1, [*common, f"train.precision={prec}"], variants, True)
           for prec in ("fp32", "bf16")]
    if not args.quick:
        best = {"+no sync": VARIANTS["+no sync"]}
        out.append(("V1 bf16 batch 32 x 8192", v1, [*common, "train.precision=bf16", "train.batch_size=32"],
                    best, False))
        out += [(f"V1 bf16 batch 16 {kind}", v1, [*common, "train.precision=bf16", f"model.upsampler={kind}"],
                 best, False) for kind in KINDS if kind != "transposed"]
    return out


def measure(config, overrides, interval, args, profiled: bool = True) -> dict:
    cfg = load_config(config, overrides, for_run=False)
    device = torch.device(args.device)
    torch.manual_seed(0)
    ctx = build_context(cfg, device, DistInfo(), log=lambda *_: None)
    apply_speed_options(ctx)
    state = new_state(cfg, ctx)
    data = SegmentDataset(ctx.train_files, cfg.sample_rate, cfg.data.segment_length, cache=True)
    batch = cfg.train.batch_size

    def batches(n):
        out = []
        for _ in range(n):
            idx = torch.randint(len(data), (batch,)).tolist()
            b = torch.stack([data[i] for i in idx])
            out.append(b.pin_memory() if device.type == "cuda" else b)
        return out

    timed = batches(args.steps)
    t = time.perf_counter()
    batches(args.steps)
    data_ms = (time.perf_counter() - t) / args.steps * 1e3
    run_steps(state, ctx, batches(3), interval)  # warm-up: optimizer state, cuDNN, compilation
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *_: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = []
    for _ in range(args.rounds):
        sync()
        t, cpu = time.perf_counter(), time.process_time()
        run_steps(state, ctx, timed, interval)
        sync()
        rates.append((args.steps / (time.perf_counter() - t), args.steps / (time.process_time() - cpu)))
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None
    every = min(interval, args.profile_steps)  # whole check intervals under the profiler
    counts = profile_steps(state, ctx, batches(args.profile_steps - args.profile_steps % every), every) \
        if profiled else None
    del state, ctx
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    best = max(rates)
    return {"steps_per_s": best[0], "cpu_steps_per_s": best[1], "counts": counts, "peak_gib": peak,
            "data_ms": data_ms}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return (f"CPU ({platform.machine()}, {torch.get_num_threads()} thread(s), shared 2-core machine), "
            f"torch {torch.__version__}")


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.device.startswith("cuda"):
        torch.set_num_threads(1)
    name = device_name(args.device)
    print(f"bench_train_step on {name}", flush=True)
    header = ("| setting | variant | steps/s | x plain | steps per CPU-s | ops/step | kernels/step | GPU busy | syncs/step "
              "| weight norms/step | peak GiB | batch prep ms |")
    lines = [header, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for label, config, overrides, variants, profiled in settings(args):
        base = None
        for variant, (extra, interval) in variants.items():
            interval = interval or args.interval
            try:
                with cudnn_autotune(torch.device(args.device)):
                    r = measure(config, [*overrides, *extra], interval, args, profiled)
            except Exception as exc:  # a variant that fails (e.g. compile) is reported, the rest go on
                lines.append(f"| {label} | {variant} | failed: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:120]} | | | | | | | | | |")
                print(lines[-1], flush=True)
                continue
            c = r["counts"]
            base = base or r["steps_per_s"]
            busy = f"{100 * c.gpu_busy:.0f}%" if c is not None and c.gpu_busy is not None else "n/a"
            counted = (f"{c.ops:.0f} | {fmt(c.kernels, '.0f')} | {busy} | {c.syncs:.2f} | {c.weight_norms:.0f}"
                       if c is not None else "- | - | - | - | -")
            lines.append(f"| {label} | {variant} | {r['steps_per_s']:.2f} | x{r['steps_per_s'] / base:.2f} "
                         f"| {r['cpu_steps_per_s']:.2f} | {counted} | {fmt(r['peak_gib'], '.2f')} "
                         f"| {r['data_ms']:.1f} |")
            print(lines[-1], flush=True)
    section = "\n".join([
        f"## Training step: {name}", "",
        f"`python benchmarks/bench_train_step.py --device {args.device}"
        + (" --compile" if args.compile else "") + (" --quick" if args.quick else "")
        + f"` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: best of {args.rounds} runs of "
        f"{args.steps} steps, losses checked every {args.interval} steps in the sync-free variants "
        f"(every {min(args.interval, args.profile_steps)} while profiled); ops = ATen calls per step, "
        "syncs = host reads of device values per step (CPU: outside the optimizer; CUDA: runtime "
        f"synchronisations), from torch.profiler over {args.profile_steps} steps (`-`: not profiled). "
        "Batch prep: assembling one batch from the cached corpus in the main process.",
        "", *lines, ""])
    if args.no_results:
        print("\n" + section)
    else:
        path = Path(args.results)
        with open(path, "a") as f:
            f.write(("\n" if path.exists() and path.stat().st_size else "") + section)
        print(f"appended to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
