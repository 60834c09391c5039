"""iSTFT generators vs the Vocos reference and HiFi-GAN: CPU inference speed, and frame-rate lines at init.

Inference (random weights, weight norm removed, ``torch.inference_mode``, batch 1, a random
mel of ``--seconds`` of 22.05 kHz audio, hop 256, 80 mels), all models side by side in one
process, interleaved round by round (bench_models.interleaved), fastest round counted:

- ``vocos``: audioup's Vocos-style generator, preset ``base`` (dim 512, MLP 1536, 8 blocks,
  n_fft 1024), eager (the iSTFT through ``torch.fft.irfft``);
- ``vocos-reference``: the ``vocos`` package's ``VocosBackbone(80, 512, 1536, 8)`` +
  ``ISTFTHead(512, 1024, 256, padding="same")``, the same size (left out when the package is
  not installed: ``pip install --no-deps vocos einops encodec==0.1.1``);
- ``vocos-onnx``: audioup's Vocos exported to ONNX and run by onnxruntime (``--onnx``);
- ``istftnet-v1``: HiFi-GAN V1's trunk with factors 8, 8 and an iSTFT (n_fft 16, hop 4);
- ``hifigan-v1``, ``hifigan-v2``: transposed layers.

Real-time factor = compute time / audio duration (lower is faster); "x V1" = how many times
faster than HiFi-GAN V1; "/ reference" = time over the Vocos reference's (below 1: faster).
Both by wall time and by this process's CPU time (the steadier figure on a shared machine; the
onnxruntime column runs in this process too, so its CPU time counts alike).

``--lines``: the tonal score (:func:`audioup.metrics.tonal_score`, lines at multiples of
sr / hop attributed per stage) of each generator at initialisation on the bundled speech
(both CMU ARCTIC clips, 22.05 kHz), mean over ``--seeds`` seeds; the frame-rate lines of
Vocos are the multiples of 86.13 Hz.

Usage: ``python benchmarks/bench_istft.py [--threads 2] [--seconds 10] [--rounds 7] [--onnx] [--lines]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import interleaved  # noqa: E402  (the side-by-side timing of bench_models.py)

from audioup.models import build_generator  # noqa: E402

SR, HOP, N_MELS = 22050, 256, 80


def reference_vocos():
    """The ``vocos`` package's network of the same size, or ``None`` when it is not installed."""
    try:
        from vocos.heads import ISTFTHead
        from vocos.models import VocosBackbone
    except ImportError:
        return None
    backbone, head = VocosBackbone(N_MELS, 512, 1536, 8), ISTFTHead(512, 1024, HOP, padding="same")
    return torch.nn.Sequential(backbone, head).eval()


def onnx_runner(generator, mel, folder):
    """A callable running ``generator`` exported to ONNX in onnxruntime (``None`` without it)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    path = os.path.join(folder, "vocos.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(generator, (mel,), path, input_names=["mel"], output_names=["wav"],
                          dynamic_axes={"mel": {2: "frames"}}, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"mel": mel.numpy()}
    return lambda: session.run(None, feed)


def generators():
    torch.manual_seed(0)
    models = {"vocos": build_generator("vocos", "base"),
              "istftnet-v1": build_generator("istftnet", "v1", upsampler_init="hifigan"),
              "hifigan-v1": build_generator("hifigan", "v1"),
              "hifigan-v2": build_generator("hifigan", "v2")}
    ref = reference_vocos()
    if ref is not None:
        models["vocos-reference"] = ref
    return {k: (m.remove_weight_norm() if hasattr(m, "remove_weight_norm") else m).eval() for k, m in models.items()}


def bench_speed(args) -> None:
    models = generators()
    frames = round(args.seconds * SR / HOP)
    mel = torch.randn(1, N_MELS, frames) - 5.0
    seconds = frames * HOP / SR
    runs = {}
    for name, model in models.items():
        def run(model=model):
            with torch.inference_mode():
                model(mel)
        runs[name] = run
    with tempfile.TemporaryDirectory() as folder:
        if args.onnx:
            runner = onnx_runner(models["vocos"], mel, folder)
            if runner is not None:
                runs["vocos-onnx"] = runner
        wall, cpu = interleaved(runs, args.rounds)
    best = {n: min(ts) for n, ts in wall.items()}
    params = {n: sum(p.numel() for p in m.parameters()) for n, m in models.items()}
    print(f"\n{seconds:.1f} s of audio, {args.threads} thread(s), {args.rounds} rounds, fastest round; "
          f"{platform.machine()}, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}")
    if "vocos-reference" not in best:
        print("(vocos package not installed: the reference column is left out)")
    header = ["model", "params", "RTF (wall)", "x V1 (wall)", "/ reference (wall)", "CPU s / audio s",
              "x V1 (CPU)", "/ reference (CPU)"]
    best_cpu = {n: min(ts) for n, ts in cpu.items()}
    rows = []
    for name in runs:
        t, c = best[name], best_cpu[name]
        ref, ref_cpu = best.get("vocos-reference"), best_cpu.get("vocos-reference")
        rows.append([name, f"{params[name] / 1e6:.2f}M" if name in params else "-", f"{t / seconds:.4f}",
                     f"{best['hifigan-v1'] / t:.1f}", f"{t / ref:.2f}" if ref else "n/a",
                     f"{c / seconds:.4f}", f"{best_cpu['hifigan-v1'] / c:.1f}",
                     f"{c / ref_cpu:.2f}" if ref_cpu else "n/a"])
    print(table(header, rows, args.markdown))


def bench_lines(args) -> None:
    from audioup.audio import MelSpectrogram, load_audio
    from audioup.metrics import tonal_score

    root = Path(__file__).resolve().parents[1] / "data" / "cmu_arctic"
    clips = [torch.from_numpy(load_audio(p, sample_rate=SR).samples) for p in sorted(root.glob("*.wav"))]
    front = MelSpectrogram(SR)
    specs = {"vocos (base)": ("vocos", "base", {}), "istftnet (v1)": ("istftnet", "v1", {}),
             "hifigan v1 transposed": ("hifigan", "v1", {}),
             "hifigan v1 resize-linear": ("hifigan", "v1", {"upsampler": "resize-linear"})}
    rows = []
    for label, (name, preset, kwargs) in specs.items():
        scores, frame_rate, hops = [], [], []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            g = build_generator(name, preset, **kwargs).eval()
            for clip in clips:
                clip = clip[:clip.shape[-1] // HOP * HOP]
                with torch.inference_mode():
                    wav = g(front(clip[None]))[0, 0].numpy()
                s = tonal_score(wav, SR, factors=g.upsample_factors)
                # the lines at multiples of sr / 256 (the frame rate), whatever the stage
                comb = tonal_score(wav, SR, hop=HOP)
                scores.append(s.tonal_score_db)
                frame_rate.append(comb.tonal_score_db)
                hops.append(s.estimated_hop)
        rows.append([label, "×".join(str(f) for f in g.upsample_factors), f"{sum(scores) / len(scores):.1f}",
                     f"{sum(frame_rate) / len(frame_rate):.1f}", ", ".join(str(h) for h in sorted(set(hops), key=str))])
    print(f"\nTonal score at initialisation, bundled speech (2 clips) x {args.seeds} seed(s):")
    print(table(["generator", "schedule", "tonal score (dB)", "frame-rate comb, hop 256 (dB)", "blind hop"],
                rows, args.markdown))


def table(header, rows, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [header, *rows])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--onnx", action="store_true", help="also time the Vocos-style model in onnxruntime")
    parser.add_argument("--lines", action="store_true", help="also measure the tonal score at initialisation")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.no_speed:
        bench_speed(args)
    if args.lines:
        bench_lines(args)


if __name__ == "__main__":
    main()
