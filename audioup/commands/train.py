"""``audioup train CONFIG [key=value ...] [--init-from CKPT]``."""
from __future__ import annotations

import argparse
import errno
import os

from ..data.dataset import DataError, collect_files, error_message
from ..errors import CommandError
from ..train.checkpoint import CheckpointError
from ..train.config import ConfigError, load_config
from ..train.loop import TrainingError, train
from ..train.official_config import hifigan_overrides

DESCRIPTION = """Train a GAN vocoder from a YAML recipe (see recipes/).

Settings can be overridden with key=value pairs (dotted keys, YAML values):
  audioup train recipes/tiny.yaml run_dir=runs/tiny max_steps=20 model.upsampler=resize

Restarting with the same run_dir resumes from its newest good checkpoint.
Several GPUs or machines: torchrun --nproc_per_node N -m audioup train CONFIG ...
"""


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser("train", help=help_line, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="YAML recipe (may 'extends:' another)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="settings to override, e.g. run_dir=runs/x max_steps=1000 optim.lr=1e-4")
    p.add_argument("--hifigan-config", metavar="CONFIG_JSON",
                   help="an official HiFi-GAN config.json: its generator, mel, segment, optimizer and "
                        "batch settings applied on top of CONFIG (key=value overrides still win)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="start from this checkpoint's (or run folder's) weights, with fresh "
                        "optimizers and step 0 (fine-tuning)")
    p.set_defaults(func=run)


def run(args) -> int:
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise CommandError(f"expected key=value overrides after the config, got {bad[0]!r}")
    try:
        official = hifigan_overrides(args.hifigan_config) if args.hifigan_config else []
        cfg = load_config(args.config, [*official, *args.overrides])
        # the data paths are checked before torchrun's ranks connect, so that a missing
        # filelist stops every rank alike instead of leaving the others waiting for rank 0
        collect_files(cfg.data.files, cfg.data.filelist)
        collect_files(cfg.data.valid_files)
        train(cfg, init_from=args.init_from)
    except (ConfigError, DataError) as exc:
        if _rank() > 0:  # every rank of a torchrun job reads the same config and data: rank 0 says it
            return 1
        raise CommandError(error_message(exc)) from None
    except (CheckpointError, TrainingError) as exc:
        raise CommandError(error_message(exc)) from None
    except OSError as exc:  # read-only file system, permissions, a folder where a file belongs ...
        raise CommandError(os_error_message(exc)) from None
    return 0


def os_error_message(exc: OSError) -> str:
    """``PATH: what`` for an OS error (one line, no traceback)."""
    reasons = {errno.ELOOP: "a symbolic link loop", errno.EISDIR: "is a folder, where a file belongs",
               errno.ENOTDIR: "a part of this path is a file, where a folder belongs",
               errno.EEXIST: "exists and is not a folder", errno.ENOSPC: "disk full",
               errno.EDQUOT: "disk quota exceeded"}
    why = reasons.get(exc.errno) or (exc.strerror or str(exc)).lower()
    where = exc.filename if exc.filename is not None else "training"
    return f"{where}: {why}" + (f" (-> {exc.filename2})" if exc.filename2 else "")


def _rank() -> int:
    """This process's rank under torchrun (``RANK``), 0 otherwise."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0
