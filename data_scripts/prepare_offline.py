#!/usr/bin/env python
"""Build an offline corpus of real recordings from Debian packages (no internet beyond apt).

Fetches the packages with `apt-get download` (no root, nothing installed; each
.deb is checked against the sha256 recorded in audioup/data/offline.py), unpacks
them safely, converts the audio to mono WAV at the corpus rate and writes
OUT/CORPUS/{train,val,test}.txt, split by speaker. Running again resumes.

  speech (22.05 kHz): Czech Fillets dialogue (held-out characters for test)
                      + festvox-ru read sentences (held-out sentences)
  music  (44.1 kHz):  Wesnoth orchestral tracks (held-out tracks)

With --max-minutes it also packs a subset (that many minutes of training audio, up to
--eval-minutes each of val and test) as FLAC or OGG into OUT/CORPUS_packed_FORMAT:
audio under train/, val/, test/ and the three filelists beside, paths relative, so the
folder can be copied elsewhere (under --max-mib; the offline GPU machines take 64 MiB).
--pack-only packs a corpus prepared before, without apt.

Examples:
    python data_scripts/prepare_offline.py --out data/offline
    python data_scripts/prepare_offline.py --out data/offline --max-minutes 60 --format ogg
    python data_scripts/prepare_offline.py --out data/offline --pack-only --max-minutes 20 \
        --packed-out data/offline/speech_packed_cpu
    python data_scripts/prepare_offline.py --out data/offline --corpus music

Then train on a recipe of recipes/offline/, or compare every upsampler on a packed subset:
    python recipes/gpu_compare.py --data data/offline/speech_packed_ogg --device cuda
"""
import argparse
import math
import sys
from pathlib import Path

from _cli import run


class _Done:
    def __init__(self, *parts):
        self.parts = [p for p in parts if p is not None]

    def summary(self) -> str:
        return "\n".join(p.summary() for p in self.parts)


def build(args):
    from audioup.data.offline import prepare_offline
    from audioup.data.pack import pack_subset

    corpus = None
    if not args.pack_only:
        corpus = prepare_offline(args.out, corpus=args.corpus, any_version=args.any_version,
                                 test_speakers=args.test_speakers, progress=not args.quiet)
    packed = None
    if args.max_minutes is not None:
        target = args.packed_out or Path(args.out) / f"{args.corpus}_packed_{args.format}"
        packed = pack_subset(Path(args.out) / args.corpus, target, max_minutes=args.max_minutes,
                             fmt=args.format, max_mib=args.max_mib, eval_minutes=args.eval_minutes)
    return _Done(corpus, packed)


def positive(text: str) -> float:
    """argparse type: a finite number above 0 (``-5``, ``0``, ``nan``, ``inf`` refused before any work)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text}: expected a positive number")
    return value


def main(argv=None) -> int:
    from audioup.data.offline import CORPORA, FILLETS_TEST_SPEAKERS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/offline", help="working folder (default data/offline)")
    parser.add_argument("--corpus", default="speech", choices=sorted(CORPORA), help="default: speech")
    parser.add_argument("--any-version", action="store_true",
                        help="accept package versions other than the pinned ones (sha256 not checked; "
                             "apt still verifies them against the signed archive)")
    parser.add_argument("--test-speakers", nargs="+", default=list(FILLETS_TEST_SPEAKERS),
                        help="held-out Fillets characters (default: %(default)s)")
    parser.add_argument("--max-minutes", type=positive, default=None,
                        help="also pack at most this many minutes of training audio")
    parser.add_argument("--eval-minutes", type=positive, default=4.0,
                        help="packed val and test audio, at most this many minutes each (default 4)")
    parser.add_argument("--format", default="flac", choices=["flac", "ogg"], help="packed format (default flac)")
    parser.add_argument("--max-mib", type=positive, default=60.0, help="packed folder size limit (default 60 MiB)")
    parser.add_argument("--packed-out", type=Path, help="packed folder (default OUT/CORPUS_packed_FORMAT)")
    parser.add_argument("--pack-only", action="store_true",
                        help="only pack a corpus prepared before in OUT (no apt; needs --max-minutes)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.pack_only and args.max_minutes is None:
        parser.error("--pack-only packs a subset: give its size with --max-minutes")
    return run(build, args)


if __name__ == "__main__":
    sys.exit(main())
