"""HiFi-GAN V1/V2/V3 x every upsampler kind: CPU inference real-time factor and training-step time.

All pairs run side by side in one process, interleaved round by round (every kind once
per round, in a rotating order) so that drift of a shared machine hits them alike. The
ratio printed for a kind is its fastest round over transposed's fastest round (the least
disturbed runs of a shared machine); the median of same-round ratios is printed beside it.
Both wall time and this process's CPU time are reported: on a loaded machine the CPU
time is the steadier measure of the work each layer costs.

- Inference: weight norm removed, ``torch.inference_mode``, a random mel of
  ``--infer-seconds`` of audio; real-time factor = compute time / audio duration
  (lower is faster).
- Training step: generator + MPD + MSD, the discriminator step (D on real and detached
  fake, LSGAN loss, backward) and the generator step (D on fake, LSGAN + 2 x feature
  matching + 45 x mel L1, backward) on a ``--train-samples`` segment; no optimizer.

Usage: ``python benchmarks/bench_models.py [--threads 2] [--markdown]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

from audioup.layers import UPSAMPLER_LABELS as KINDS


def time_call(fn: Callable[[], None]) -> Tuple[float, float]:
    """``(wall seconds, CPU seconds of this process)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(runs: Dict[str, Callable[[], None]], rounds: int, warmup: int = 1):
    """Time every callable once per round, rotating the order.

    Returns ``(wall, cpu)``: per-name lists of per-round wall and CPU times.
    """
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            runs[name]()
    wall: Dict[str, List[float]] = {n: [] for n in names}
    cpu: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            w, c = time_call(runs[name])
            wall[name].append(w)
            cpu[name].append(c)
    return wall, cpu


def ratios(times: Dict[str, List[float]], base: str = "transposed") -> Dict[str, float]:
    """Per kind, its fastest round over the base's fastest round (the least disturbed runs of a
    shared machine), and the median of same-round ratios; returned as ``(of_min, paired)``."""
    return {n: (min(ts) / min(times[base]), statistics.median(t / b for t, b in zip(ts, times[base])))
            for n, ts in times.items()}


def inference_runs(preset: str, kinds: List[str], seconds: float):
    import torch

    from audioup.models import build_generator

    runs, audio_seconds = {}, None
    for kind in kinds:
        g = build_generator("hifigan", preset=preset, upsampler=kind).eval().remove_weight_norm()
        frames = max(1, round(seconds * g.sample_rate / g.hop_length))
        audio_seconds = frames * g.hop_length / g.sample_rate
        mel = torch.randn(1, g.n_mels, frames)

        def run(g=g, mel=mel):
            with torch.inference_mode():
                g(mel)
        runs[kind] = run
    return runs, audio_seconds


def training_runs(preset: str, kinds: List[str], samples: int):
    import torch

    from audioup.audio import MelSpectrogram
    from audioup.models import MultiPeriodDiscriminator, MultiScaleDiscriminator, build_generator
    from audioup.models.losses import (
        FEATURE_MATCHING_WEIGHT, MEL_WEIGHT, discriminator_loss, feature_matching_loss,
        generator_adversarial_loss, mel_l1_loss,
    )

    mel_fn = MelSpectrogram(22050)
    mpd, msd = MultiPeriodDiscriminator(), MultiScaleDiscriminator()
    real = 0.1 * torch.randn(1, 1, samples)
    mel_real = mel_fn(real)
    params = list(mpd.parameters()) + list(msd.parameters())
    runs = {}
    for kind in kinds:
        g = build_generator("hifigan", preset=preset, upsampler=kind).train()

        def run(g=g):
            for p in list(g.parameters()) + params:
                p.grad = None
            fake = g(mel_real)
            d_loss = 0
            for d in (mpd, msd):
                real_logits, _ = d(real)
                fake_logits, _ = d(fake.detach())
                d_loss = d_loss + discriminator_loss(real_logits, fake_logits)
            d_loss.backward()
            g_loss = MEL_WEIGHT * mel_l1_loss(mel_fn(fake), mel_real)
            for d in (mpd, msd):
                with torch.no_grad():
                    _, real_feats = d(real)
                fake_logits, fake_feats = d(fake)
                g_loss = g_loss + generator_adversarial_loss(fake_logits)
                g_loss = g_loss + FEATURE_MATCHING_WEIGHT * feature_matching_loss(real_feats, fake_feats)
            g_loss.backward()
        runs[kind] = run
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="v1,v2,v3")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--infer-seconds", type=float, default=1.0, help="audio per inference call")
    parser.add_argument("--infer-rounds", type=int, default=10)
    parser.add_argument("--train-samples", type=int, default=2048, help="segment length per training step")
    parser.add_argument("--train-rounds", type=int, default=3)
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    presets, kinds = args.presets.split(","), args.kinds.split(",")
    if kinds[0] != "transposed":
        kinds = ["transposed"] + [k for k in kinds if k != "transposed"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    rows = []
    for preset in presets:
        runs, audio_s = inference_runs(preset, kinds, args.infer_seconds)
        wall, cpu = interleaved(runs, args.infer_rounds)
        rel_wall, rel_cpu = ratios(wall), ratios(cpu)
        for kind in kinds:
            rtf, rtf_cpu = min(wall[kind]) / audio_s, min(cpu[kind]) / audio_s
            rows.append(("infer", preset, kind, rtf, rel_wall[kind][0], rtf_cpu, rel_cpu[kind][0]))
            print(f"infer  {preset:3s} {kind:15s} RTF {rtf:7.3f}  x{rel_wall[kind][0]:5.2f} (paired "
                  f"x{rel_wall[kind][1]:5.2f})   CPU-time RTF {rtf_cpu:7.3f}  x{rel_cpu[kind][0]:5.2f}", flush=True)
        if not args.no_train:
            wall, cpu = interleaved(training_runs(preset, kinds, args.train_samples), args.train_rounds)
            rel_wall, rel_cpu = ratios(wall), ratios(cpu)
            for kind in kinds:
                step, step_cpu = min(wall[kind]), min(cpu[kind])
                rows.append(("train", preset, kind, step, rel_wall[kind][0], step_cpu, rel_cpu[kind][0]))
                print(f"train  {preset:3s} {kind:15s} step {step:6.2f} s x{rel_wall[kind][0]:5.2f} (paired "
                      f"x{rel_wall[kind][1]:5.2f})   CPU {step_cpu:6.2f} s  x{rel_cpu[kind][0]:5.2f}", flush=True)

    if args.markdown:
        for what, unit in (("infer", "RTF (min)"), ("train", "step s (min)")):
            sel = [r for r in rows if r[0] == what]
            if not sel:
                continue
            print(f"\n| {what} | " + " | ".join(kinds) + " |")
            print("|---|" + "---|" * len(kinds))
            for preset in presets:
                cells = [f"{r[3]:.3f} x{r[4]:.2f} / cpu x{r[6]:.2f}" for r in sel if r[1] == preset]
                print(f"| {preset} {unit} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
