"""``audioup compare CONFIG [key=value ...] --out DIR [--kinds ...] [--steps N] [--init-only]``."""
from __future__ import annotations

import argparse
import shlex
import sys

from ..data.dataset import DataError
from ..errors import CommandError
from ..models.checkpoint import CheckpointError
from ..train.config import ConfigError
from ..train.distributed import resolve_device
from .report import stage_title, table, text_table
from .runner import GENERATOR_KINDS, KINDS, CompareError, compare_upsamplers

HELP = "train one vocoder per upsampler kind and write a comparison report"
DESCRIPTION = """\
Train the same vocoder with each upsampler kind for the same number of steps (the real
training loop, one run folder per kind), vocode the test set with each, and write
OUT/report.md with a table (tonal score, MR-STFT, mel L1, PESQ, parameters, speed) and
figures. Every kind is also evaluated at initialisation (step 0).

  audioup compare recipes/ljspeech/hifigan_v2.yaml --out runs/cmp_v2 --steps 20000
  audioup compare recipes/tiny.yaml --out runs/cmp --init-only --test data/cmu_arctic

key=value overrides (as for `audioup train`) go right after CONFIG. Running again with the
same --out reuses finished results and resumes training; a folder holding a comparison made
with other settings is refused.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="YAML recipe (see recipes/)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="settings applied to every kind, e.g. train.batch_size=8")
    p.add_argument("--out", required=True, metavar="DIR", help="comparison folder")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), metavar="KIND",
                   help=f"upsampler kinds (default: {' '.join(KINDS)}); also "
                        f"{' '.join(GENERATOR_KINDS)}: the recipe's generator replaced by one whose last "
                        "upsampling stage is an inverse STFT (same data, losses and discriminators)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="training steps per kind (default: the recipe's max_steps)")
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
    p.set_defaults(func=run)


def run(args) -> int:
    if args.steps is not None and args.steps < 1:
        raise CommandError("--steps must be >= 1")
    if args.max_test_files is not None and args.max_test_files < 1:
        raise CommandError("--max-test-files must be >= 1")
    command = "audioup compare " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["compare"] else None
    try:
        comp = compare_upsamplers(
            args.config, args.out, kinds=args.kinds, steps=args.steps, init=True,
            trained=not args.init_only, overrides=args.overrides, test_files=args.test,
            max_test_files=args.max_test_files, device=str(resolve_device(args.device)),
            speed=not args.no_speed, report_text={"command": command} if command else None,
            log=lambda line: print(line, file=sys.stderr))
    except (CompareError, ConfigError, DataError, CheckpointError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    for step in comp.stages:
        print(f"\n{stage_title(step)}:\n{text_table(table(comp, step))}")
    print(f"\nreport: {comp.report}")
    failed = [r for s in comp.stages for r in comp.rows(s) if "error" in r]
    return 1 if failed else 0
