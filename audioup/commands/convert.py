"""``audioup convert``: a trained transposed vocoder -> resize-convolution, line-free, at its quality.

    audioup convert --checkpoint pretrained:hifigan-universal --to resize-nearest --out runs/universal_rn
    audioup convert --checkpoint pretrained:hifigan-universal --to resize-nearest --out runs/universal_rn \\
        --budget-minutes 20 --data data/offline/speech/train.txt --test held_out_clips/
    audioup vocode --checkpoint runs/universal_rn speech.wav --out vocoded/

With ``--layers auto`` (the default) only the layers whose lines stand out are replaced:
each candidate is measured on calibration speech (``--calibrate``, default a few files of
``--data``, else the bundled clips), and a layer is replaced when that lowers the strongest
predicted line over the real recording (``--line-target`` dB, default 3), unless it raises
their mel L1 so much that a short fine-tune does not win it back (the report says so). Each
replaced layer gets the shortest kernel of a ladder that keeps nearly all of the trained one
(see ``--kernel-size``). ``--layers all`` replaces every transposed layer, ``--layers 2,3`` those.

``--budget-minutes M`` then fine-tunes the replaced stages within M minutes of wall time
against the original on real speech (``--data``: folders, files or a filelist; default the
offline corpus's training list when ``data_scripts/prepare_offline.py`` has made it, else
the bundled clips): resumable (run the same command again), with a progress bar.

The result is an ordinary audioup run folder (``OUT/checkpoints``: step 0 is the projection,
the newest the fine-tuned one) that ``vocode``, ``analyze --checkpoint`` and ``train
--init-from`` read; ``OUT/convert.json`` is the report: per layer what was done and why,
and on the held-out ``--test`` clips (default the bundled CMU ARCTIC ones) PESQ-WB, STOI,
mel L1, M-STFT and the strongest predicted line over the real recording, for the original,
the projection and the fine-tuned vocoder.

``--to istftnet`` makes the other conversion: the last layers whose factors multiply to 4
(x2 x2 on V1) and their residual blocks give way to an inverse STFT (iSTFTNet's C8C8I); the
trunk stays as released, the new magnitude/phase head is fitted to the original's output on
the calibration clips, and ``--budget-minutes`` fine-tunes the head and the stage before it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..compare.conversion import (CALIBRATION_FILES, LINE_TARGET_DB, calibration_files, convert_and_recover,
                                  default_test_clips, expand_data, parse_kernel_sizes, parse_layers)
from ..compare.plan import LADDER_MULTIPLES, MAX_LADDER_KERNEL, RESIDUAL_TARGET
from ..data.dataset import read_filelist
from ..errors import CommandError
from ..layers import UPSAMPLER_LABELS
from ..models.checkpoint import CheckpointError, list_checkpoints, read_generator
from ..train.distill import TOP_BAND_HZ, WAVE_WEIGHT, DistillSettings
from . import check_output_path, plain_text

DEFAULT_DATA = Path("data") / "offline" / "speech" / "train.txt"


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser("convert", help=help_line,
                              description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="SOURCE",
                   help="audioup checkpoint or run folder, official HiFi-GAN generator file, or "
                        "pretrained:hifigan-universal / pretrained:hifigan-ljspeech")
    p.add_argument("--config", metavar="JSON", help="config.json of an official file (default: beside it)")
    p.add_argument("--to", required=True, metavar="KIND",
                   help="resize-nearest, resize-linear, sinc or transposed (a copy); kinds with a folded "
                        "(transposed-convolution) form, out of " + ", ".join(UPSAMPLER_LABELS)
                        + "; or istftnet: the last layers (x2 x2 on V1) replaced by a hop-4 inverse STFT")
    p.add_argument("--layers", default="auto", metavar="auto|all|I,J",
                   help="which transposed layers to replace (default auto: those whose lines stand out)")
    p.add_argument("--kernel-size", metavar="K|I:K,...",
                   help="kernel of the new layers: one length, or per layer (default: per layer the shortest "
                        "of the kind's default, " + ", ".join(f"{m}f+1" for m in LADDER_MULTIPLES)
                        + f" up to {MAX_LADDER_KERNEL} taps that keeps "
                        f"all but {RESIDUAL_TARGET * 100:g} %% of the trained kernel, else the longest)")
    p.add_argument("--budget-minutes", type=float, default=0.0, metavar="M",
                   help="fine-tune the replaced stages for M minutes of wall time (default 0: projection only)")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="real speech for the fine-tune: folders, audio files or filelists (.txt)")
    p.add_argument("--test", nargs="+", metavar="PATH", help="held-out test clips or folders "
                   "(default: the bundled CMU ARCTIC clips)")
    p.add_argument("--calibrate", nargs="+", metavar="PATH", help="clips --layers auto measures on "
                   f"(default: {CALIBRATION_FILES} files spread over --data, else the bundled clips)")
    p.add_argument("--line-target", type=float, default=LINE_TARGET_DB, metavar="DB",
                   help=f"--layers auto: replace layers until no line stands more than DB over the real "
                        f"recording (default {LINE_TARGET_DB:g})")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write (checkpoints/, convert.json)")
    p.add_argument("--no-eval", action="store_true", help="skip the before/after measurement")
    p.add_argument("--force", action="store_true", help="replace an earlier conversion in --out")
    p.add_argument("--max-steps", type=int, default=0, help=argparse.SUPPRESS)  # tests: a step bound
    p.add_argument("--save-every", type=float, default=60.0, help=argparse.SUPPRESS)  # seconds between checkpoints
    p.add_argument("--notch-hz", type=float, default=30.0, help=argparse.SUPPRESS)  # fine-tune: line bands left out
    p.add_argument("--loss-top-hz", type=float, default=None, metavar="HZ",
                   help=f"fine-tune: leave everything above HZ out of the distillation loss, where the "
                        f"original's Nyquist line has its sidebands (default: {TOP_BAND_HZ:g} Hz under the "
                        f"Nyquist frequency, 10 kHz at 22.05 kHz; 0: the whole band)")
    p.add_argument("--line-weight", type=float, default=0.0, metavar="W",
                   help="fine-tune: penalise the student's own lines on the original's whole predicted grid, "
                        "their gradient at most W times the distillation's (default 0: off; on V1 Universal "
                        "0.5 kept lines at +2.9 dB mean but cost PESQ 0.23: see benchmarks/RESULTS.md)")
    p.add_argument("--wave-weight", type=float, default=WAVE_WEIGHT, metavar="W",
                   help=f"fine-tune: weight of the waveform L1 term beside the STFT and mel distances "
                        f"(default {WAVE_WEIGHT:g}; 0: magnitudes only, the student may take its own phase)")
    p.add_argument("--lr", type=float, default=DistillSettings.lr, metavar="LR",
                   help=f"fine-tune: AdamW learning rate of the converted stages (default {DistillSettings.lr:g}; "
                        "the replaced upsamplers learn at a tenth of it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _refuse_training_run(out: Path) -> None:
    """A training run's folder is never converted into (its checkpoints would be replaced)."""
    for marker in ("train.lock", "config.yaml"):
        if (out / marker).exists() or (out / marker).is_symlink():
            raise CommandError(f"--out {out}: holds a training run ({marker}); convert into a new folder")


def run(args) -> int:
    out = Path(args.out)
    check_output_path(out, "--out", folder=True)
    _refuse_training_run(out)
    layers = parse_layers(args.layers)
    kernels = parse_kernel_sizes(args.kernel_size)
    if not 0 <= args.budget_minutes <= 24 * 60:
        raise CommandError(f"--budget-minutes {args.budget_minutes:g}: must be between 0 and 1440")
    if args.max_steps < 0:
        raise CommandError("--max-steps must be >= 0")
    for flag, value in (("--notch-hz", args.notch_hz), ("--line-weight", args.line_weight),
                        ("--wave-weight", args.wave_weight),
                        ("--loss-top-hz", 0.0 if args.loss_top_hz is None else args.loss_top_hz)):
        if not value >= 0:
            raise CommandError(f"{flag} {value:g}: must be 0 or more")
    if not 0 < args.lr <= 1:
        raise CommandError(f"--lr {args.lr:g}: must be in (0, 1]")
    try:
        source = read_generator(args.checkpoint, config=args.config)
    except CheckpointError as exc:
        raise CommandError(str(exc)) from None
    if Path(source["path"]).resolve().is_relative_to(out.resolve()):
        raise CommandError(f"--out {out} holds the source checkpoint {source['path']}; choose another folder")
    if list_checkpoints(out) and args.force:
        for _, old in list_checkpoints(out):
            old.unlink()
        for name in ("plan.json", "convert.json"):
            (out / name).unlink(missing_ok=True)
    elif list_checkpoints(out) and args.budget_minutes <= 0:
        raise CommandError(f"{out}: already holds checkpoints (use --force to replace them, or "
                           "--budget-minutes to resume the fine-tune)")
    data = expand_data(args.data) if args.data else (
        read_filelist(DEFAULT_DATA) if DEFAULT_DATA.is_file() else default_test_clips())
    if args.budget_minutes > 0 and not args.data:
        print(f"fine-tune data: {DEFAULT_DATA if DEFAULT_DATA.is_file() else 'the bundled clips'} "
              "(--data to choose)")
    calibration = args.calibrate or (calibration_files(data) if args.data else default_test_clips())
    test = args.test or default_test_clips()
    try:
        convert_and_recover(source, args.checkpoint, args.to, out, layers=layers, kernel_sizes=kernels,
                            budget_minutes=args.budget_minutes, data=data, test=test, calibration=calibration,
                            line_target_db=args.line_target, evaluate=not args.no_eval,
                            max_steps=args.max_steps, save_every_s=args.save_every, notch_hz=args.notch_hz,
                            line_weight=args.line_weight, top_hz=args.loss_top_hz, wave_weight=args.wave_weight,
                            lr=args.lr, progress=not args.quiet)
    except (ValueError, CheckpointError) as exc:
        raise CommandError(f"--to {args.to}: {exc}" if "kind" in str(exc) else str(exc)) from None
    print(f"wrote {out / 'checkpoints'} and {out / 'convert.json'}")
    return 0
