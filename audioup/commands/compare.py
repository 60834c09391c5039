"""``audioup compare CONFIG [key=value ...] --out DIR [--kinds ...] [--steps N] [--init-only]``."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..audio.fs import stream_destination
from ..data.dataset import DataError
from ..errors import CommandError
from ..models.checkpoint import CheckpointError
from ..train.config import ConfigError
from ..train.distributed import resolve_device
from ..compare.report import table, text_table
from ..compare.stages import stage_title
from ..compare.runner import GENERATOR_KINDS, KINDS, CompareError, compare_upsamplers

DESCRIPTION = """\
Train the same vocoder with each upsampler kind for the same number of steps or minutes (the
real training loop, one run folder per kind), vocode the test set with each, and write
OUT/report.md with a table (tonal score, MR-STFT, mel L1, PESQ, parameters, speed) and
figures. Every kind is also evaluated at initialisation (step 0).

  audioup compare recipes/ljspeech/hifigan_v2.yaml --out runs/cmp_v2 --steps 20000
  audioup compare recipes/tiny.yaml --out runs/cmp --init-only --test data/cmu_arctic

The same training time for every kind instead of the same steps (a cheap generator gets more
steps; train.clock=cpu counts this process's CPU time, which other load does not eat):

  audioup compare recipes/offline/hifigan_v2.yaml train.clock=cpu --out runs/cmp_cpu \\
      --kinds transposed resize-nearest vocos istftnet --minutes 12

From a released vocoder instead of a recipe (no CONFIG): convert it to every kind (and to an
iSTFT head, istftnet, in place of its last layers), give each the same fine-tune budget on
real speech, and measure all on held-out clips:

  audioup compare --from pretrained:hifigan-universal --out runs/cmp_universal \\
      --budget-minutes 5 --data data/offline/speech/train.txt --test held_out/

key=value overrides (as for `audioup train`) go right after CONFIG. Running again with the
same --out reuses finished results and resumes training; a folder holding a comparison made
with other settings is refused.
"""


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser("compare", help=help_line, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="YAML recipe (see recipes/); not with --from")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="settings applied to every kind, e.g. train.batch_size=8")
    p.add_argument("--out", required=True, metavar="DIR", help="comparison folder")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), metavar="KIND",
                   help=f"upsampler kinds (default: {' '.join(KINDS)}); also "
                        f"{' '.join(GENERATOR_KINDS)}: the recipe's generator replaced by one whose last "
                        "upsampling stage is an inverse STFT (same data, losses and discriminators)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="training steps per kind (default: the recipe's max_steps)")
    p.add_argument("--minutes", type=float, metavar="M",
                   help="train every kind for M minutes of training time instead of a number of steps "
                        "(the same CPU budget; each kind stops at the step its speed reaches; --steps "
                        "then bounds the steps)")
    p.add_argument("--init-only", action="store_true",
                   help="only evaluate every kind at initialisation (no training)")
    p.add_argument("--test", nargs="+", metavar="PATH",
                   help="test audio: files, folders or filelists (default: test.txt beside the "
                        "training filelist, else data.valid_files)")
    p.add_argument("--max-test-files", type=int, metavar="N", help="use only the first N test files")
    p.add_argument("--device", default="cpu",
                   help="device for vocoding the test set and timing (default: cpu; training "
                        "follows train.device)")
    p.add_argument("--no-speed", action="store_true", help="skip the inference speed measurement")
    p.add_argument("--no-periodicity", action="store_true",
                   help="skip periodicity RMSE and V/UV F1 (torchcrepe, slow on a CPU); "
                        "compare_upsamplers(periodicity=False) in Python")
    p.add_argument("--from", dest="source", metavar="SOURCE",
                   help="a released vocoder (pretrained:NAME, official file, audioup checkpoint) to convert "
                        "to each kind instead of training from scratch")
    p.add_argument("--budget-minutes", type=float, default=5.0, metavar="M",
                   help="--from: fine-tune minutes (wall time) per kind (default 5)")
    p.add_argument("--layers", default="auto", metavar="auto|all|I,J",
                   help="--from: which transposed layers to replace (default auto, decided per kind as "
                        "audioup convert does; give I,J to put every kind on the same layers)")
    p.add_argument("--data", nargs="+", metavar="PATH", help="--from: real speech for the fine-tunes")
    p.add_argument("--quiet", action="store_true", help="--from: no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.source:
        return run_from(args)
    if not args.config:
        raise CommandError("give a recipe (CONFIG) or --from SOURCE")
    if args.steps is not None and args.steps < 1:
        raise CommandError("--steps must be >= 1")
    if args.minutes is not None and not 0 < args.minutes <= 7 * 24 * 60:
        raise CommandError(f"--minutes {args.minutes:g}: must be in (0, 10080]")
    if args.max_test_files is not None and args.max_test_files < 1:
        raise CommandError("--max-test-files must be >= 1")
    stream_destination(Path(args.out) / "report.md")  # a folder or a link there: refused before training
    command = "audioup compare " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["compare"] else None
    try:
        comp = compare_upsamplers(
            args.config, args.out, kinds=args.kinds, steps=args.steps, init=True,
            trained=not args.init_only, overrides=args.overrides, test_files=args.test,
            max_test_files=args.max_test_files, device=str(resolve_device(args.device)),
            speed=not args.no_speed, periodicity=not args.no_periodicity, minutes=args.minutes,
            report_text={"command": command} if command else None,
            log=lambda line: print(line, file=sys.stderr))
    except (CompareError, ConfigError, DataError, CheckpointError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    for step in comp.stages:
        print(f"\n{stage_title(step)}:\n{text_table(table(comp, step))}")
    print(f"\nreport: {comp.report}")
    failed = [r for s in comp.stages for r in comp.rows(s) if "error" in r]
    return 1 if failed else 0


def run_from(args) -> int:
    """``audioup compare --from SOURCE``: :func:`audioup.compare.from_pretrained.compare_from_pretrained`."""
    from ..compare.conversion import calibration_files, default_test_clips, expand_data, parse_layers
    from ..compare.from_pretrained import FROM_KINDS, compare_from_pretrained

    if args.config or args.overrides:
        raise CommandError("--from takes no recipe or key=value settings")
    if not 0 < args.budget_minutes <= 24 * 60:
        raise CommandError("--budget-minutes must be in (0, 1440]")
    kinds = [k for k in args.kinds if k != "transposed"] if args.kinds != list(KINDS) else list(FROM_KINDS)
    try:
        from ..models.checkpoint import read_generator
        source = read_generator(args.source)
        data = expand_data(args.data) if args.data else default_test_clips()
        compare_from_pretrained(source, args.source, args.out, kinds, layers=parse_layers(args.layers),
                                budget_minutes=args.budget_minutes, data=data,
                                test=expand_data(args.test) if args.test else default_test_clips(),
                                calibration=calibration_files(data) if args.data else default_test_clips(),
                                progress=not args.quiet,
                                log=lambda line: print(line, file=sys.stderr))
    except (CheckpointError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    print((Path(args.out) / "report.md").read_text())
    return 0
