"""``audioup layers``: the upsampler kinds side by side, for one factor.

For each kind: kernel, parameters, multiplies per input sample (what a forward
costs), and the checkerboard score at initialisation (constant in, periodic
energy out; see :func:`audioup.analysis.checkerboard_score`).
"""
from __future__ import annotations

import json
from typing import Dict, List

import torch
from torch import nn

from ..analysis import checkerboard_score, format_checkerboard_db
from ..audio.fs import atomic_write
from ..errors import CommandError
from . import check_output_path
from ..layers.base import Upsampler
from ..layers.registry import UPSAMPLER_LABELS as COMPARED, build_upsampler


def multiplies_per_input_sample(layer: nn.Module) -> int:
    """Multiply-adds one forward spends per input sample (all channel pairs): the layer's own count."""
    if not isinstance(layer, Upsampler):
        raise TypeError(f"unknown layer type {type(layer).__name__} (not an audioup Upsampler)")
    return layer.macs_per_input_sample()


def compare_kinds(factor: int, in_channels: int, out_channels: int, seed: int = 0) -> List[Dict]:
    """One row per kind in :data:`COMPARED`, at initialisation with ``seed``."""
    rows = []
    for spec in COMPARED:
        torch.manual_seed(seed)
        layer = build_upsampler(spec, in_channels, out_channels, factor)
        rows.append({
            "kind": spec,
            "kernel_size": layer.kernel_size,
            "parameters": sum(p.numel() for p in layer.parameters()),
            "macs_per_input_sample": multiplies_per_input_sample(layer),
            "checkerboard_db": round(checkerboard_score(layer).checkerboard_db, 1),
        })
    return rows


def format_table(rows: List[Dict], factor: int) -> str:
    base = next(r["macs_per_input_sample"] for r in rows if r["kind"] == "transposed")
    lines = [f"{'kind':<16}{'kernel':>7}{'params':>10}{'multiplies vs transposed':>26}{'checkerboard at init':>23}"]
    for r in rows:
        cb = format_checkerboard_db(r["checkerboard_db"])
        lines.append(f"{r['kind']:<16}{r['kernel_size']:>7}{r['parameters']:>10}"
                     f"{r['macs_per_input_sample'] / base:>25.2f}x{cb:>23}")
    return "\n".join(lines)


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser(
        "layers", help=help_line,
        description="The upsampler kinds side by side, for one factor: kernel, parameters, cost "
                    "(multiplies per input sample relative to transposed; the fast resize forward is "
                    "one folded transposed convolution) and the checkerboard score at initialisation "
                    "(constant in, periodic energy out).")
    p.add_argument("--factor", type=int, default=8, help="upsampling factor (default 8)")
    p.add_argument("--in-channels", type=int, default=64, metavar="C",
                   help="input channels of each layer (default 64)")
    p.add_argument("--out-channels", type=int, default=32, metavar="C",
                   help="output channels of each layer (default 32)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.set_defaults(func=run)


MAX_WEIGHTS = 1 << 22  # in x out x factor: 4 M, so a layer's weights stay well under 1 GB


def run(args) -> int:
    size = args.in_channels * args.out_channels * args.factor
    if size > MAX_WEIGHTS:
        raise CommandError(f"--in-channels x --out-channels x --factor = {size:,} is too large (at most "
                           f"{MAX_WEIGHTS:,}: the layers' weights would need gigabytes)")
    check_output_path(args.json, "--json", folder=False)
    try:
        rows = compare_kinds(args.factor, args.in_channels, args.out_channels, args.seed)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"Upsamplers for factor {args.factor}, {args.in_channels} -> {args.out_channels} channels "
          f"(seed {args.seed}):\n")
    print(format_table(rows, args.factor))
    if args.json:
        atomic_write(args.json, json.dumps(rows, indent=2) + "\n")
    return 0
