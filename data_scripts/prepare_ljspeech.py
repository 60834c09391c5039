#!/usr/bin/env python
"""Download LJSpeech 1.1 and write train/val/test filelists (HiFi-GAN-sized split, 22.05 kHz).

Example:
    python data_scripts/prepare_ljspeech.py data/ljspeech
    python data_scripts/prepare_ljspeech.py data/ljspeech --val-list hifi-gan/LJSpeech-1.1/validation.txt
"""
import argparse
import sys

from _cli import add_download_options, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_download_options(parser)
    parser.add_argument("--val-list", help="HiFi-GAN's validation.txt (or any id list) for its exact split")
    parser.add_argument("--n-val", type=int, default=150,
                        help="validation size without --val-list (hash-chosen, deterministic; default 150)")
    parser.add_argument("--url", help="mirror URL of LJSpeech-1.1.tar.bz2")
    parser.add_argument("--checksum", help="expected 'sha256:HEX' or 'md5:HEX' (default: the recorded sha256)")
    args = parser.parse_args(argv)
    from audioup.data.prepare import prepare_ljspeech

    return run(prepare_ljspeech, args.root, sample_rate=args.sample_rate, n_val=args.n_val,
               val_list=args.val_list, download=not args.no_download, url=args.url,
               checksum=args.checksum, progress=not args.quiet)


if __name__ == "__main__":
    sys.exit(main())
