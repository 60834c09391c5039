"""``audioup convert``: a trained transposed vocoder -> resize-convolution, with a before/after report.

    audioup convert --checkpoint pretrained:hifigan-universal --to resize-nearest --out runs/universal_rn
    audioup vocode --checkpoint runs/universal_rn speech.wav --out vocoded/
    audioup train recipes/finetune/hifigan_universal_to_nearest.yaml run_dir=runs/ft --init-from runs/universal_rn

Each transposed layer is replaced by the ``--to`` kind started at the least-squares closest
tied kernel (:mod:`audioup.layers.project`); the residual energy per layer says how much of
the trained kernel could not be kept (it is what made that layer's checkerboard). The
converted generator is written as an ordinary audioup checkpoint
(``OUT/checkpoints/ckpt_00000000.pt``, step 0) that ``vocode``, ``analyze --checkpoint`` and
``train --init-from`` read. Unless ``--no-eval``, both vocoders resynthesise a test utterance
(``--test``, default the first bundled CMU ARCTIC file) and ``OUT/convert.json`` records the
output change (mel L1, multi-resolution STFT distance and PESQ against the real audio, and
between the two outputs) and the predicted lines before and after.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..audio.fs import atomic_write
from ..audio.io import AudioError, load_audio
from ..inference import Vocoder, build_vocoder
from ..layers import UPSAMPLER_LABELS
from ..metrics import MetricUnavailable, mel_l1_distance, mrstft_distance, pesq_wb, tonal_score
from ..models.checkpoint import FORMAT, VERSION, CheckpointError, checkpoint_path, list_checkpoints, read_generator
from ..models.convert import convert_generator
from ..train.checkpoint import save_checkpoint
from ..errors import CommandError
from . import check_output_path, plain_text

DEFAULT_TEST = Path(__file__).resolve().parents[1] / "assets" / "data" / "cmu_arctic" / "arctic_a0007.wav"  # package data


def evaluate(vocoder: Vocoder, real: np.ndarray, lines: int = 3) -> Dict[str, Any]:
    """Resynthesise ``real`` (at the vocoder's rate) and measure it: reference metrics and tonal lines."""
    sr = vocoder.sample_rate
    out = vocoder.wav_to_wav(torch.from_numpy(real)).numpy()
    score = tonal_score(out, sr, factors=list(vocoder.generator.upsample_factors))
    row: Dict[str, Any] = {"mel_l1": mel_l1_distance(out, real, sr), "mrstft": mrstft_distance(out, real, sr),
                           "tonal_score_db": score.tonal_score_db, "tonal_max_db": score.tonal_max_db,
                           "strongest": [{"freq_hz": t["freq_hz"], "prominence_db": t["prominence_db"],
                                          "layer": t["layer"]} for t in score.strongest(lines)]}
    try:
        row["pesq_wb"] = pesq_wb(out, real, sr)
    except MetricUnavailable as exc:
        row["pesq_wb"], row["pesq_note"] = None, str(exc)
    row["output"], row["score"] = out, score  # for the comparison; popped before the report
    return row


def compare_outputs(before: Dict[str, Any], after: Dict[str, Any], sample_rate: int) -> Dict[str, float]:
    """How much the conversion changed the waveform: distances between the two outputs."""
    a, b = after["output"], before["output"]
    return {"mel_l1": mel_l1_distance(a, b, sample_rate), "mrstft": mrstft_distance(a, b, sample_rate)}


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help="convert a trained transposed vocoder to resize-convolution",
                              description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="SOURCE",
                   help="audioup checkpoint or run folder, official HiFi-GAN generator file, or "
                        "pretrained:hifigan-universal / pretrained:hifigan-ljspeech")
    p.add_argument("--config", metavar="JSON", help="config.json of an official file (default: beside it)")
    p.add_argument("--to", required=True, metavar="KIND",
                   help="resize-nearest, resize-linear, sinc or transposed (a copy); kinds with a folded "
                        "(transposed-convolution) form, out of " + ", ".join(UPSAMPLER_LABELS))
    p.add_argument("--kernel-size", type=int, help="kernel of every new layer (default: the kind's)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write (checkpoints/, convert.json)")
    p.add_argument("--test", metavar="WAV", help="test utterance (default: a bundled CMU ARCTIC file)")
    p.add_argument("--no-eval", action="store_true", help="skip the before/after measurement")
    p.add_argument("--force", action="store_true", help="replace the checkpoints already in --out")
    p.set_defaults(func=run)


def run(args) -> int:


    out = Path(args.out)
    check_output_path(out, "--out", folder=True)
    try:
        source = read_generator(args.checkpoint, config=args.config)
    except CheckpointError as exc:
        raise CommandError(str(exc)) from None
    if Path(source["path"]).resolve().is_relative_to(out.resolve()):
        raise CommandError(f"--out {out} holds the source checkpoint {source['path']}; choose another folder")
    if list_checkpoints(out) and not args.force:
        raise CommandError(f"{out}: already holds checkpoints (use --force to replace them)")
    if args.kernel_size is not None and args.kernel_size < 1:
        raise CommandError("--kernel-size must be >= 1")
    kind: Any = args.to if args.kernel_size is None else {"kind": args.to, "kernel_size": args.kernel_size}
    try:
        config, state, swaps = convert_generator(source, kind)
    except ValueError as exc:
        raise CommandError(f"--to {args.to}: {exc}") from None
    report: Dict[str, Any] = {"source": str(args.checkpoint), "to": kind, "layers": [
        {"name": f"upsamplers.{s.name}", "old": s.old, "new": s.new, "residual_energy": s.residual_energy}
        for s in swaps]}
    print(f"converted {args.checkpoint} to {args.to}: residual energy per layer (share of the trained "
          "kernel no tied kernel can make)")
    for row in report["layers"]:
        print(f"  {row['name']:<14} {100 * row['residual_energy']:6.1f} %")
    if not args.no_eval:
        report["evaluation"] = _evaluate_pair(source, config, state, args.test)
    payload = {"format": FORMAT, "version": VERSION, "step": 0, "sample_rate": source["mel"]["sample_rate"],
               "mel": dict(source["mel"]), "generator_config": config, "generator": state,
               "converted_from": str(args.checkpoint),
               "residual_energy": [float(s.residual_energy) for s in swaps]}
    path = save_checkpoint(payload, checkpoint_path(out, 0))
    for _, older in list_checkpoints(out):  # --force: the converted file is the only one left to find
        if older.resolve() != path.resolve():
            older.unlink()
    atomic_write(out / "convert.json", json.dumps(report, indent=2) + "\n")
    print(f"wrote {path} and {out / 'convert.json'}")
    return 0


def _evaluate_pair(source, config, state, test: Optional[str]) -> Dict[str, Any]:


    before_voc = build_vocoder(source["generator_config"], source["mel"], source["generator"])
    after_voc = build_vocoder(config, source["mel"], state)
    path = Path(test) if test else DEFAULT_TEST
    try:
        real = load_audio(path, sample_rate=before_voc.sample_rate).samples
    except AudioError as exc:
        raise CommandError(str(exc)) from None
    before, after = evaluate(before_voc, real), evaluate(after_voc, real)
    change = compare_outputs(before, after, before_voc.sample_rate)
    lines_after = {round(t["freq_hz"], 3): t["prominence_db"] for t in after["score"].tones}
    for t in before["strongest"]:
        t["after_db"] = lines_after.get(round(t["freq_hz"], 3))
    for row in (before, after):
        row.pop("output")
        row.pop("score")
    print(f"test utterance {path}:")
    print(f"  {'':8} {'mel L1':>7} {'M-STFT':>7} {'PESQ':>5} {'tonal':>7} {'max line':>9}")
    for name, row in (("before", before), ("after", after)):
        pesq = f"{row['pesq_wb']:.2f}" if row["pesq_wb"] is not None else "n/a"
        print(f"  {name:8} {row['mel_l1']:7.3f} {row['mrstft']:7.3f} {pesq:>5} {row['tonal_score_db']:5.1f}dB "
              f"{row['tonal_max_db']:7.1f}dB")
    print(f"  output change (after vs before): mel L1 {change['mel_l1']:.3f}, M-STFT {change['mrstft']:.3f}")
    for t in before["strongest"]:
        print(f"  line {t['freq_hz']:8.1f} Hz (layer {t['layer']}): {t['prominence_db']:+.1f} dB -> "
              f"{t['after_db']:+.1f} dB")
    return {"test": str(path), "before": before, "after": after, "change": change}
