"""Shared bits of the data scripts: common options and clean error reporting."""
from __future__ import annotations

import argparse
import sys


def add_download_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="working folder: archives go to ROOT/downloads, data and filelists to ROOT")
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="resample to this rate into ROOT/wavs_<rate>/ (default: the recipe's rate)")
    parser.add_argument("--no-download", action="store_true",
                        help="use archives already in ROOT/downloads (fetched by other means); never connect")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(func, *args, **kwargs) -> int:
    """Call a ``prepare_*`` / ``build_corpus`` function; print its summary or a one-line error."""
    from audioup.audio.io import AudioError
    from audioup.data.archive import ArchiveError
    from audioup.data.download import DownloadError

    try:
        result = func(*args, **kwargs)
    except (DownloadError, ArchiveError, AudioError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # permissions, a full disk, a file where a folder should be
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(result.summary())
    return 0
