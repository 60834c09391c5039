"""A comparison folder's results as one Markdown table with STOI, and a compact JSON.

    python benchmarks/summarize_compare.py OUT [--json FILE]

Reads every ``OUT/results/STAGE/KIND.json`` that ``audioup compare`` wrote (the report's own
table leaves STOI out to keep its columns) and prints, per stage and kind: the step reached,
the parameters, the tonal score and strongest predicted line (dB), the level re the real audio,
mel L1, M-STFT, PESQ-WB and STOI, means over the test clips. ``--json`` writes the same rows
(plus each layer's mean line prominence and the training minutes) without the per-file records
and spectra, small enough to keep in ``benchmarks/results/``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KEYS = ("step", "params", "train_minutes", "tonal_score_db", "tonal_max_db", "level_db", "mel_l1", "mrstft",
        "pesq_wb", "stoi")


def rows(out: Path):
    for stage in sorted(p for p in (out / "results").iterdir() if p.is_dir()):
        for path in sorted(stage.glob("*.json")):
            record = json.loads(path.read_text())
            if "error" in record:
                yield {"stage": stage.name, "kind": record.get("kind"), "error": record["error"]}
                continue
            yield {"stage": stage.name, "kind": record["kind"], **{k: record.get(k) for k in KEYS},
                   "per_layer": {k: v.get("mean_db") for k, v in (record.get("per_layer") or {}).items()}}


def fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(table) -> str:
    lines = ["| stage | kind | steps | params | tonal score dB | strongest line dB | level dB | mel L1 | M-STFT "
             "| PESQ-WB | STOI |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in table:
        if "error" in r:
            lines.append(f"| {r['stage']} | {r['kind']} | failed: {r['error'].splitlines()[0]} |" + " |" * 8)
            continue
        lines.append(f"| {r['stage']} | {r['kind']} | {r['step']} | {r['params'] / 1e6:.2f}M | "
                     f"{fmt(r['tonal_score_db'], '.1f')} | {fmt(r['tonal_max_db'], '.1f')} | {fmt(r['level_db'], '+.1f')} "
                     f"| {fmt(r['mel_l1'], '.3f')} | {fmt(r['mrstft'], '.3f')} | {fmt(r['pesq_wb'], '.2f')} "
                     f"| {fmt(r['stoi'], '.3f')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="an audioup compare folder")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args(argv)
    if not (args.out / "results").is_dir():
        print(f"{args.out}: no results/ folder (not an audioup compare folder)", file=sys.stderr)
        return 1
    table = list(rows(args.out))
    print(markdown(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
