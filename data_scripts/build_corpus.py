#!/usr/bin/env python
"""Build the embedded corpus: augmented clips of the bundled CMU ARCTIC speech, offline.

Writes OUT/wavs/*.wav, OUT/{train,val,test}.txt and OUT/corpus.json. Reuses an
existing build with the same settings; refuses to write into a folder holding
anything else unless --force.

Example:
    python data_scripts/build_corpus.py --out data/corpus
"""
import argparse
import sys

from _cli import run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/corpus", help="corpus folder (default data/corpus)")
    parser.add_argument("--sources", nargs="+", help="audio files or folders (default: data/cmu_arctic)")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--variants", type=int, default=12, help="augmented clips per source (default 12)")
    parser.add_argument("--n-val", type=int, default=1, help="of those, validation clips per source (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild over an existing different folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from audioup.data.corpus import build_corpus

    return run(build_corpus, args.out, sources=args.sources, sample_rate=args.sample_rate,
               variants=args.variants, n_val=args.n_val, seed=args.seed, force=args.force,
               progress=not args.quiet)


if __name__ == "__main__":
    sys.exit(main())
