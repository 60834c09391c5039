"""Forward+backward time of every upsampler kind against `transposed`, HiFi-GAN V1 shapes.

The four upsampling layers of HiFi-GAN V1 (channels 512 -> 256 -> 128 -> 64 -> 32,
factors 8, 8, 2, 2) are run as one stack, with each kind's default kernel
(transposed: 2 * factor, HiFi-GAN's 16, 16, 4, 4). Kinds are timed in
interleaved rounds so that machine noise hits all of them alike; the printed
ratio is each kind's median over the transposed median of the same run.

Usage: python benchmarks/bench_layers.py [--threads 2] [--rounds 7]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from audioup.layers import UPSAMPLER_LABELS, build_upsampler

CHANNELS = (512, 256, 128, 64, 32)
FACTORS = (8, 8, 2, 2)
# The project's list of kinds, less plain subpixel (ICNR only sets the initial weights: the same
# cost as subpixel-icnr); each resize kind also without its folded fast forward, as "(plain)".
KINDS = {}
for _label in UPSAMPLER_LABELS:
    if _label != "subpixel":
        KINDS[_label] = _label
    if _label.startswith("resize-"):
        KINDS[f"{_label} (plain)"] = {"kind": _label, "fast": False}
SETTINGS = {"training 16 x 32 frames": (16, 32), "inference 1 x 500 frames": (1, 500)}


def stack(spec) -> nn.Module:
    return nn.Sequential(*[build_upsampler(spec, CHANNELS[i], CHANNELS[i + 1], f) for i, f in enumerate(FACTORS)])


def time_once(model: nn.Module, x: torch.Tensor, backward: bool) -> float:
    start = time.process_time()
    if backward:
        x = x.detach().requires_grad_(True)
        model(x).square().mean().backward()
    else:
        with torch.no_grad():
            model(x)
    return time.process_time() - start


def run(threads: int, rounds: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    models = {name: stack(spec) for name, spec in KINDS.items()}
    print(f"# audioup layer benchmark: {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {threads} threads, median of {rounds} interleaved rounds")
    for setting, (batch, frames) in SETTINGS.items():
        x = torch.randn(batch, CHANNELS[0], frames)
        for backward in (True, False):
            label = f"{setting}, {'forward+backward' if backward else 'forward only'}"
            for model in models.values():  # warm-up
                time_once(model, x, backward)
            times = {name: [] for name in models}
            for _ in range(rounds):
                for name, model in models.items():
                    times[name].append(time_once(model, x, backward))
            base = statistics.median(times["transposed"])
            print(f"\n### {label}")
            print("| kind | median ms | x transposed |")
            print("|---|---:|---:|")
            for name, ts in times.items():
                med = statistics.median(ts)
                print(f"| {name} | {med * 1e3:.1f} | {med / base:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    run(args.threads, args.rounds)
