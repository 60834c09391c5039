#!/usr/bin/env python
"""Fine-tune comparison: pretrained HiFi-GAN V1 Universal converted to resize vs the original.

For each kind (default: resize-nearest, resize-linear and transposed, the control) trains
``recipes/finetune/hifigan_universal.yaml model.upsampler=<kind>`` from ``pretrained:hifigan-universal``
for the same number of steps on the embedded corpus with the real training loop (the
conversion is the least-squares projection; the first ``--warmup`` steps train only the fresh
discriminators), then resynthesises the bundled CMU ARCTIC speech and prints mel L1,
M-STFT, PESQ, the tonal score and the strongest predicted line, next to the pretrained
model before conversion and right after projection (step 0). Needs
``pip install 'audioup[pretrained]'`` (or ``--checkpoint`` pointing at an official file).

    python recipes/gpu_finetune.py                       # CUDA: 3 kinds x 600 steps, batch 16, bf16
    nice python recipes/gpu_finetune.py --device cpu --steps 24 --warmup 8 --batch-size 1 \
        --segment-length 8192 --kinds resize-nearest transposed   # the CPU numbers in benchmarks/RESULTS.md

Without a CUDA GPU it stops with exit status 2 (unless ``--device cpu``). The default GPU run is
sized for about 5-6 minutes on one H100/H200 (an estimate from HiFi-GAN V1's step cost, not yet
measured: no GPU was available when it was written); lower ``--steps`` if the first kind's
"N steps in S s" line says otherwise. On a machine without the wheel, copy
``generator_universal.pth.tar`` and its ``config.json`` into one folder and pass
``--checkpoint FOLDER/generator_universal.pth.tar``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "finetune" / "hifigan_universal.yaml"
SLUG = {"resize-nearest": "nearest", "resize-linear": "linear", "transposed": "transposed"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kinds", nargs="+", default=list(SLUG), choices=list(SLUG))
    p.add_argument("--checkpoint", default="pretrained:hifigan-universal",
                   help="the pretrained generator (official file, or pretrained:NAME)")
    p.add_argument("--steps", type=int, default=600, help="training steps per kind (default 600)")
    p.add_argument("--warmup", type=int, default=100, help="discriminator-only steps first (default 100)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--segment-length", type=int, default=8192)
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--device", default="cuda", help="cuda, cuda:1, ... or cpu")
    p.add_argument("--out", default=str(REPO / "runs" / "gpu_finetune"), help="run folders (replaced)")
    p.add_argument("--corpus", default=str(REPO / "data" / "corpus"), help="embedded corpus folder")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="extra config overrides")
    args = p.parse_args(argv)
    if args.steps < 1 or not 0 <= args.warmup < args.steps:
        p.error("need --steps >= 1 and 0 <= --warmup < --steps")
    args.precision = args.precision or ("bf16" if args.device.startswith("cuda") else "fp32")
    return args


def measure(vocoder, speech) -> dict:
    """Mean metrics of ``vocoder`` over the bundled utterances (:func:`audioup.evaluation.evaluate_vocoder`)."""
    from audioup.evaluation import TestClip, evaluate_vocoder, summarize

    results = evaluate_vocoder(vocoder, [TestClip(f"clip{i}", Path(f"clip{i}"), wav) for i, wav in enumerate(speech)])
    summary = summarize(results)
    out = {k: summary[k] for k in ("mel_l1", "mrstft", "tonal_score_db", "tonal_max_db", "pesq_wb")}
    strongest = max((t for r in results for t in r.lines), key=lambda t: t["prominence_db"], default=None)
    out["line"] = f"{strongest['freq_hz']:.0f} Hz {strongest['prominence_db']:+.1f} dB" if strongest else "-"
    return out


def finetune(kind: str, args, corpus) -> Path:
    import shutil

    from audioup.train.config import load_config
    from audioup.train.loop import train

    run_dir = Path(args.out) / SLUG[kind]
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = load_config(RECIPE, [
        *args.overrides, f"model.upsampler={kind}", f"run_dir={run_dir}", f"max_steps={args.steps}", f"init_from={args.checkpoint}",
        f"train.discriminator_warmup={args.warmup}", f"data.filelist={corpus.filelists['train']}",
        f"data.valid_files=[{corpus.filelists['val']}]", f"train.batch_size={args.batch_size}",
        f"data.segment_length={args.segment_length}", f"train.precision={args.precision}",
        f"train.device={args.device}", "train.progress=false", f"train.checkpoint_interval={args.steps}",
        f"train.validation_interval={args.steps}", f"train.log_interval={max(1, args.steps // 4)}",
        "train.keep_last=1"])
    train(cfg, log=lambda line: print(f"    [{kind}] {line}", flush=True))
    return run_dir


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_finetune: no CUDA GPU available; for a CPU run use --device cpu with small --steps.",
              file=sys.stderr)
        return 2
    from audioup.audio.io import load_audio
    from audioup.data.corpus import build_corpus
    from audioup.inference import build_vocoder, load_generator
    from audioup.models.checkpoint import read_generator
    from audioup.models.convert import convert_generator

    corpus = build_corpus(args.corpus, progress=False)
    source = read_generator(args.checkpoint)
    sr = source["mel"]["sample_rate"]
    speech = [load_audio(p, sample_rate=sr).samples for p in sorted((REPO / "data" / "cmu_arctic").glob("*.wav"))]
    rows = [("pretrained (transposed)", 0, measure(build_vocoder(source["generator_config"], source["mel"],
                                                                 source["generator"]), speech))]
    for kind in args.kinds:
        if kind != "transposed":
            config, state, _ = convert_generator(source, kind)
            rows.append((f"{kind}, projected", 0, measure(build_vocoder(config, source["mel"], state), speech)))
    for kind in args.kinds:
        start = time.perf_counter()
        run_dir = finetune(kind, args, corpus)
        wall = time.perf_counter() - start
        rows.append((f"{kind}, fine-tuned", args.steps, measure(load_generator(run_dir), speech)))
        print(f"  {kind}: {args.steps} steps in {wall:.0f} s", flush=True)
    print(f"\nHiFi-GAN V1 {args.checkpoint}, {args.steps} steps ({args.warmup} discriminator-only), batch "
          f"{args.batch_size} x {args.segment_length} samples, {args.precision} on {args.device}; "
          "metrics: mean over the two bundled CMU ARCTIC utterances at 22.05 kHz")
    print("| model | steps | mel L1 | M-STFT | PESQ-WB | tonal score (dB) | strongest line |")
    print("|---|--:|--:|--:|--:|--:|---|")
    for name, steps, m in rows:
        pesq = f"{m['pesq_wb']:.2f}" if m["pesq_wb"] is not None else "n/a"
        print(f"| {name} | {steps} | {m['mel_l1']:.3f} | {m['mrstft']:.3f} | {pesq} | "
              f"{m['tonal_score_db']:.1f} | {m['line']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
