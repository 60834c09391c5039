#!/usr/bin/env python
"""Download LibriTTS subsets and write train/val/test filelists at 24 kHz.

Train on --subsets, validate on --n-val utterances of dev-clean, test on test-clean.
BigVGAN's full setup: --subsets train-clean-100 train-clean-360 train-other-500 (about 80 GB).

Example:
    python data_scripts/prepare_libritts.py data/libritts
"""
import argparse
import sys

from _cli import add_download_options, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_download_options(parser)
    parser.add_argument("--subsets", nargs="+", default=["train-clean-100"], help="training subsets")
    parser.add_argument("--val-subset", default="dev-clean")
    parser.add_argument("--test-subset", default="test-clean")
    parser.add_argument("--n-val", type=int, default=200, help="validation utterances (default 200)")
    parser.add_argument("--base-url", help="mirror folder holding SUBSET.tar.gz (default openslr.org/resources/60)")
    parser.add_argument("--checksum", action="append", default=[], metavar="SUBSET=HEX",
                        help="override one subset's checksum ('sha256:HEX' or bare hex); repeatable")
    args = parser.parse_args(argv)
    from audioup.data.prepare import prepare_libritts

    subsets = [*args.subsets, args.val_subset, args.test_subset]
    urls = {s: f"{args.base_url.rstrip('/')}/{s}.tar.gz" for s in subsets} if args.base_url else None
    try:
        checksums = dict(item.split("=", 1) for item in args.checksum)
    except ValueError:
        parser.error("--checksum takes SUBSET=HEX")
    return run(prepare_libritts, args.root, sample_rate=args.sample_rate, subsets=args.subsets,
               val_subset=args.val_subset, test_subset=args.test_subset, n_val=args.n_val,
               download=not args.no_download, urls=urls, checksums=checksums, progress=not args.quiet)


if __name__ == "__main__":
    sys.exit(main())
