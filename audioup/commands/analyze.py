"""``audioup analyze``: where a layer's or a generator's checkerboard comes from.

Three sources, one at a time:

- a layer: ``--kind KIND --factor F [--kernel-size K] [--mode M] [--icnr]``,
  built seeded at initialisation: overlap, checkerboard score, matrix form,
  noise and swept-sine response;
- a generator: ``--checkpoint CKPT_OR_RUN_DIR`` (trained, through
  :func:`audioup.inference.load_generator`) or ``--model hifigan --preset v1
  --upsampler KIND`` (at initialisation): each upsampler's checkerboard score
  and the lines it adds for one input (``--mel-from WAV``, else a synthetic
  harmonic signal);
- a discriminator: ``--discriminator mpd|msd|mrd``: lines in the gradient it
  sends back for noise.

Numbers go to stdout; ``--json FILE`` writes them, ``--plot DIR`` the figures.
Existing outputs are kept unless ``--force``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from ..analysis import plots
from ..analysis.attribution import layer_attribution
from ..analysis.checkerboard import checkerboard_score, format_checkerboard_db
from ..analysis.frequency import frequency_response
from ..analysis.gradients import gradient_spectrum
from ..analysis.matrix import layer_matrix
from ..analysis.overlap import layer_overlap, overlap_pattern
from ..analysis.probe import find_upsamplers
from ..audio.fs import atomic_write
from ..audio.io import MAX_SAMPLE_RATE, AudioError
from ..audio.mel import MelSpectrogram
from ..errors import CommandError
from ..inference import load_clip, load_generator
from ..layers import build_upsampler, upsampler_label
from ..layers.base import kernel_length
from ..layers.registry import UPSAMPLER_LABELS
from ..models import build_discriminators, build_generator, calibrate_levels_
from . import check_output_path, plain_text


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser(
        "analyze", help=help_line,
        description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--kind", help="upsampler kind or alias (" + ", ".join(UPSAMPLER_LABELS) + ")")
    src.add_argument("--checkpoint", help="generator checkpoint file or training run directory, an official "
                                          "HiFi-GAN file, or pretrained:hifigan-universal / -ljspeech")
    src.add_argument("--model", choices=["hifigan", "bigvgan"], help="build a generator at initialisation")
    src.add_argument("--discriminator", choices=["mpd", "msd", "mrd"], help="gradient lines of a discriminator")
    lay = p.add_argument_group("layer (--kind)")
    lay.add_argument("--factor", type=int, help="upsampling factor (required with --kind)")
    lay.add_argument("--kernel-size", type=int, help="kernel length (default: the kind's)")
    lay.add_argument("--mode", choices=["nearest", "linear"], help="resize interpolation")
    lay.add_argument("--icnr", action="store_true", help="subpixel with ICNR initialisation")
    lay.add_argument("--channels", type=int, default=4, help="input and output channels (default 4)")
    lay.add_argument("--length", type=int, default=16, help="input length of the matrix form (default 16)")
    gen = p.add_argument_group("generator (--checkpoint / --model)")
    gen.add_argument("--config", metavar="JSON", help="config.json of an official HiFi-GAN --checkpoint "
                                                      "(default: the one beside it)")
    gen.add_argument("--preset", help="generator preset with --model (e.g. v1, tiny)")
    gen.add_argument("--upsampler", help="upsampler kind with --model (default: the preset's)")
    gen.add_argument("--mel-from", metavar="WAV", help="audio file whose mel drives the generator")
    gen.add_argument("--frames", type=int, default=64, help="mel frames of the synthetic input (default 64)")
    p.add_argument("--sample-rate", type=float, help="rate of the layer input / discriminator input "
                                                     "(default: 1 for a layer, 22050 for a discriminator)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and noise seed (default 0)")
    p.add_argument("--json", metavar="FILE", help="write the numbers as JSON")
    p.add_argument("--plot", metavar="DIR", help="write PNG figures here")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=run)


def run(args) -> int:
    _check_arguments(args)
    torch.manual_seed(args.seed)
    if args.kind is not None:
        planned = ["overlap.png", "checkerboard.png", "matrix.png", "frequency.png"]
        _check_outputs(args, planned)
        report, figures = _analyze_layer(args)
    elif args.discriminator is not None:
        _check_outputs(args, ["gradient.png"])
        report, figures = _analyze_discriminator(args)
    else:
        _check_outputs(args, ["attribution.png"])
        report, figures = _analyze_generator(args)
    if args.json:
        path = Path(args.json)
        atomic_write(path, json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")
    if args.plot:
        for name, draw in figures.items():
            print(f"wrote {draw(Path(args.plot) / name)}")
    return 0


MAX_LAYER_WEIGHTS = 1 << 26  # --channels^2 x --factor x --kernel-size: 64 M weights (256 MB), well under gigabytes


def _check_arguments(args) -> None:
    """Refuse sizes, rates and seeds out of range before anything is built or seeded."""
    if args.kind is not None and args.factor is None:
        raise CommandError("--kind needs --factor")
    for name, value, low, high in (("--length", args.length, 1, 4096), ("--frames", args.frames, 1, 100_000),
                                   ("--channels", args.channels, 1, 1024),
                                   ("--factor", args.factor, 1, 1024),
                                   ("--kernel-size", args.kernel_size, 1, 4096),
                                   ("--seed", args.seed, 0, 2 ** 63 - 1)):
        if value is not None and not low <= value <= high:
            raise CommandError(f"{name} must be in {low}..{high} (got {value})")
    if args.kind is not None and args.kernel_size is not None:
        weights = args.channels ** 2 * args.factor * args.kernel_size
        if weights > MAX_LAYER_WEIGHTS:
            raise CommandError(f"--channels^2 x --factor x --kernel-size = {weights:,} is too large (at most "
                               f"{MAX_LAYER_WEIGHTS:,}: the layer's weights would need gigabytes)")
    if args.sample_rate is not None and not 0 < args.sample_rate <= MAX_SAMPLE_RATE:
        raise CommandError(f"--sample-rate must be in (0, {MAX_SAMPLE_RATE}] Hz (got {args.sample_rate:g})")


def _check_outputs(args, pngs: List[str]) -> None:
    check_output_path(args.json, "--json", folder=False)
    check_output_path(args.plot, "--plot", folder=True)
    if args.force:
        return
    existing = [args.json] if args.json and Path(args.json).exists() else []
    if args.plot:
        existing += [str(Path(args.plot) / n) for n in pngs if (Path(args.plot) / n).exists()]
    if existing:
        raise CommandError(f"{', '.join(existing)}: already exists (use --force to overwrite)")


def _analyze_layer(args):
    options: Dict[str, object] = {}
    if args.kernel_size is not None:
        options["kernel_size"] = args.kernel_size
    if args.mode is not None:
        options["mode"] = args.mode
    if args.icnr:
        options["icnr"] = True
    try:
        layer = build_upsampler(args.kind, args.channels, args.channels, args.factor, **options)
    except ValueError as err:
        raise CommandError(str(err)) from None
    label = upsampler_label({"kind": args.kind, **options})
    score = checkerboard_score(layer)
    measured = layer_overlap(layer)
    pattern = measured
    if isinstance(layer, torch.nn.ConvTranspose1d):  # transposed: the analytic pattern (same numbers) with its drawing
        pattern = overlap_pattern(layer.kernel_size, args.factor, padding=layer.padding[0])
    matrix = layer_matrix(layer, length=args.length)
    rate = args.sample_rate or 1.0
    freq = frequency_response(layer, sample_rate=rate, seed=args.seed)
    kernel = kernel_length(layer)
    report = {
        "source": "layer", "kind": label, "factor": args.factor, "kernel_size": kernel,
        "channels": args.channels, "seed": args.seed,
        "checkerboard_db": score.checkerboard_db, "checkerboard_per_channel_db": score.per_channel_db,
        "overlap": measured.coverage, "overlap_even": measured.even,
        "checkerboard": score.to_dict(), "matrix": matrix.to_dict(), "frequency": freq.to_dict(),
    }
    print(f"layer: {label}, factor {args.factor}, kernel {kernel}, {args.channels} channels, seed {args.seed}")
    print(f"  overlap (taps per output phase): {_fmt(measured.coverage)}  "
          f"({'even' if measured.even else 'uneven'})")
    print(f"  checkerboard score: {format_checkerboard_db(score.checkerboard_db)}  "
          f"(per channel [{', '.join(map(format_checkerboard_db, score.per_channel_db))}])")
    print(f"  matrix row sums by phase: {_fmt(matrix.phase_row_sums(), '.4g')}")
    tones = ", ".join(f"{t.freq:g}: {t.prominence_db:+.1f} dB" for t in freq.tones)
    print(f"  noise: images {freq.image_db:.1f} dB, pass-band tilt {freq.passband_tilt_db:.1f} dB, "
          f"lines over floor [{tones}]; swept sine: images {freq.sweep_image_db:.1f} dB")
    figures = {
        "overlap.png": lambda p: plots.plot_overlap(pattern, p),
        "checkerboard.png": lambda p: plots.plot_checkerboard(score, p),
        "matrix.png": lambda p: plots.plot_matrix(matrix, p, title=f"{label} x{args.factor}: matrix "
                                                  f"(channel pair 0, 0); row sums by phase "
                                                  f"{_fmt(matrix.phase_row_sums(), '.3g')}"),
        "frequency.png": lambda p: plots.plot_frequency(freq, p),
    }
    return report, figures


def _load_generator(args):
    """``(generator, mel_fn, sample_rate, description)`` for --checkpoint or --model."""
    if args.checkpoint is not None:
        try:
            vocoder = load_generator(args.checkpoint, device="cpu", config=args.config)
        except Exception as err:  # any failure to load is the checkpoint's problem: say so, no traceback
            raise CommandError(f"{args.checkpoint}: cannot load a generator: {err}") from None
        return vocoder.generator, vocoder.mel, float(vocoder.sample_rate), f"checkpoint {args.checkpoint}"
    kwargs = {} if args.upsampler is None else {"upsampler": args.upsampler}
    try:
        generator = build_generator(args.model, preset=args.preset, **kwargs)
    except ValueError as err:
        raise CommandError(str(err)) from None
    calibrate_levels_(generator)  # untrained weights start as a new training run's
    sr = int(getattr(generator, "sample_rate", 22050))
    hop = int(getattr(generator, "hop_length", 256))
    mel = MelSpectrogram(sample_rate=sr, n_fft=4 * hop, hop_length=hop, win_length=4 * hop,
                         n_mels=int(getattr(generator, "n_mels", 80)), f_max=min(8000.0, sr / 2))
    desc = f"{args.model} preset {args.preset or 'default'} upsampler {args.upsampler or 'default'} (initialisation)"
    return generator, mel, float(sr), desc


def _analyze_generator(args):
    generator, mel_fn, sr, desc = _load_generator(args)
    generator.eval()
    if args.mel_from:
        try:
            samples = load_clip(args.mel_from, int(sr), min_samples=4096, what="--mel-from")
        except AudioError as err:
            raise CommandError(str(err)) from None
        wav = torch.from_numpy(samples)
        source = args.mel_from
    else:  # a voiced-like signal: harmonics of a gliding 110-220 Hz pitch, and some noise
        hop = int(getattr(generator, "hop_length", 256))
        n = args.frames * hop
        t = np.arange(n) / sr
        f0 = 110 * 2 ** (t / t[-1])
        phase = 2 * np.pi * np.cumsum(f0) / sr
        sig = sum(np.sin(h * phase) / h for h in range(1, 30) if h * f0.max() < sr / 2)
        sig = 0.3 * sig / np.abs(sig).max() + 0.003 * np.random.default_rng(args.seed).standard_normal(n)
        wav = torch.from_numpy(sig.astype(np.float32))
        source = "synthetic harmonic glide"
    with torch.no_grad():
        mel = mel_fn(wav.reshape(1, -1))
    attribution = layer_attribution(generator, mel, sample_rate=sr)
    rows = []
    print(f"generator: {desc}; input: {source}, {mel.shape[-1]} frames; sample rate {sr:g}")
    print(f"  {'layer':<24} {'factor':>6} {'in rate':>9} {'checkerboard':>16} {'overlap':>18} "
          f"{'lines':>8} {'in output':>10}")
    upsamplers = dict(find_upsamplers(generator))
    for t in attribution.layers:
        module = upsamplers[t.name]
        score = checkerboard_score(module)
        cover = layer_overlap(module)
        rows.append({**t.to_dict(), "checkerboard_db": score.checkerboard_db, "overlap": cover.coverage,
                     "overlap_even": cover.even, "module": type(module).__name__})
        print(f"  {t.name:<24} {t.factor:>6} {t.in_rate:>9.1f} {format_checkerboard_db(score.checkerboard_db):>16} "
              f"{_overlap_text(cover):>18} {t.prominence_db:>+6.1f}dB {t.output_prominence_db:>+8.1f}dB")
    heard = attribution.loudest_in_output
    print(f"  lines: the layer's own lines (k x in rate) over the local floor, right after it; "
          f"in output: the lines it owns in the waveform.\n"
          f"  Loudest in the output: {heard.name} (k x {heard.in_rate:g} Hz, {heard.output_prominence_db:+.1f} dB)")
    report = {"source": desc, "input": source, "sample_rate": sr, "loudest": heard.name,
              "loudest_after_layer": attribution.loudest, "layers": rows}
    figures = {"attribution.png": lambda p: plots.plot_attribution(attribution, p)}
    return report, figures


def _analyze_discriminator(args):
    model = build_discriminators([args.discriminator])[args.discriminator]
    sr = args.sample_rate or 22050.0
    spectrum = gradient_spectrum(model, length=8192, sample_rate=sr, trials=2, seed=args.seed)
    print(f"discriminator {args.discriminator} (initialisation), gradient of its logits for noise, "
          f"sample rate {sr:g}")
    if not spectrum.strides:
        print("  no strided Conv1d found: no predicted lines measured")
    for s in spectrum.strides:
        print(f"  stride {s:>4}: lines at k x {sr / s:g}: {spectrum.prominence_db[s]:+.1f} dB over floor (mean)")
    report = {"source": f"discriminator {args.discriminator}", **spectrum.to_dict()}
    figures = {"gradient.png": lambda p: plots.plot_gradient_spectrum(
        spectrum, p, title=f"{args.discriminator}: gradient of the logits w.r.t. a noise input")}
    return report, figures


def _overlap_text(pattern) -> str:
    low, high = min(pattern.coverage), max(pattern.coverage)
    return f"even ({low:.3g})" if pattern.even else f"uneven {low:.3g}-{high:.3g}"


def _fmt(values, spec: str = "g") -> str:
    return "[" + ", ".join(format(v, spec) for v in values) + "]"
