"""``audioup vocode``: WAV files/folders or ``.npy`` mels -> audio with a trained generator.

The library side (loading, batching, chunking long inputs, refusing to overwrite an
input) is :mod:`audioup.inference`; this module is the command line around it.
"""
from __future__ import annotations

import sys

from ..audio.fs import is_disk_full
from ..device import resolve_device
from ..errors import CommandError
from ..inference import load_generator
from ..models.checkpoint import CheckpointError


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser(
        "vocode", help=help_line,
        description="Vocode WAV files/folders (analysis-synthesis through the training mel front end) "
                    "or .npy mels (n_mels, frames) with a checkpoint; writes one WAV per input at the "
                    "model's sample rate.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="WAV files, folders or .npy mels")
    p.add_argument("--checkpoint", required=True, metavar="DIR_OR_FILE",
                   help="checkpoint file, a run folder (its newest checkpoint), an official HiFi-GAN "
                        "generator file, or pretrained:hifigan-universal / pretrained:hifigan-ljspeech")
    p.add_argument("--config", metavar="JSON",
                   help="config.json of an official HiFi-GAN file (default: the one beside it)")
    p.add_argument("--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto (default: cpu)")
    p.add_argument("--batch-size", type=int, default=8, help="files per batch (default: 8)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.batch_size < 1:
        raise CommandError("--batch-size must be >= 1")
    try:
        vocoder = load_generator(args.checkpoint, device=resolve_device(args.device), config=args.config)
        report = vocoder.vocode_files(args.inputs, args.out, force=args.force,
                                      batch_size=args.batch_size, progress=True)
    except (CheckpointError, FileExistsError, FileNotFoundError, ValueError, RuntimeError) as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:  # writing an output: a full disk, permissions
        why = "disk full" if is_disk_full(exc) else (exc.strerror or str(exc))
        raise CommandError(f"{why} while writing to {args.out}; the files written before are complete, "
                           "the rest were not written") from None
    for _, dst in report.written:
        print(dst)
    for src, why in report.failed:
        print(f"audioup vocode: skipped {why}", file=sys.stderr)
    print(f"wrote {len(report.written)} file(s) to {args.out} at {vocoder.sample_rate} Hz"
          + (f"; {len(report.failed)} failed" if report.failed else ""), file=sys.stderr)
    return 1 if report.failed else 0
