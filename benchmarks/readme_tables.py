"""Write the README's headline tables from the measured reports, so that no figure is copied by hand.

    python benchmarks/readme_tables.py            # rewrite the README blocks from benchmarks/results/
    python benchmarks/readme_tables.py --check    # exit 1 if README differs (tests/test_docs.py runs this)

Each block sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` in README.md; NAME is
a JSON file in ``benchmarks/results/``: ``convert_*`` files are ``audioup convert``'s convert.json,
``compare_*`` files ``audioup compare --from``'s report.json.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from audioup.compare.conversion import render_conversion
from audioup.compare.from_pretrained import render_comparison

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- table:([\w.-]+) -->\n)(.*?)(<!-- /table:\2 -->)", re.S)


def render(name: str) -> str:
    report = json.loads((RESULTS / f"{name}.json").read_text())
    return render_conversion(report) if name.startswith("convert_") else render_comparison(report)


def updated(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group(2)) + "\n" + m.group(4), text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when README is out of date")
    args = p.parse_args(argv)
    readme = REPO / "README.md"
    text = readme.read_text()
    new = updated(text)
    if args.check:
        if new != text:
            print("README.md tables differ from benchmarks/results/: run python benchmarks/readme_tables.py",
                  file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
