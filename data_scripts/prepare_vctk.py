#!/usr/bin/env python
"""Download VCTK 0.92 and write train/val/test filelists at 24 kHz (test = unseen speakers).

Example:
    python data_scripts/prepare_vctk.py data/vctk
"""
import argparse
import sys

from _cli import add_download_options, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_download_options(parser)
    parser.add_argument("--mic", default="mic1", choices=["mic1", "mic2"], help="microphone (default mic1)")
    parser.add_argument("--n-val", type=int, default=100, help="validation utterances (default 100)")
    parser.add_argument("--n-test-speakers", type=int, default=8, help="held-out test speakers (default 8)")
    parser.add_argument("--url", help="mirror URL of VCTK-Corpus-0.92.zip")
    parser.add_argument("--checksum", help="expected 'sha256:HEX' or 'md5:HEX' (default: the recorded sha256)")
    args = parser.parse_args(argv)
    from audioup.data.prepare import prepare_vctk

    return run(prepare_vctk, args.root, sample_rate=args.sample_rate, mic=args.mic, n_val=args.n_val,
               n_test_speakers=args.n_test_speakers, download=not args.no_download, url=args.url,
               checksum=args.checksum, progress=not args.quiet)


if __name__ == "__main__":
    sys.exit(main())
